#pragma once
// What the HTTP/2 session tests share: a client and a server session over a
// socketpair, on one io_context, and coroutine helpers to move bytes.
#include "mesh/h2_session.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <optional>
#include <random>

#include "runtime/poller.h"
#include "transport/proxy.h"
#include "transport/stream_wait.h"
#include "transport/tcp_stream.h"
#include "stream_test_util.h"


namespace ugate::h2::test {

inline std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Writes everything, then (by default) ends the stream.
inline asio::awaitable<error_code> send_all(Stream& s, std::string_view bytes, bool then_shutdown = true) {
  error_code ec = co_await write_all(s, bytes);
  if (!ec && then_shutdown) s.shutdown_write();
  co_return ec;
}

using ugate::test::read_to_end;
using ugate::test::sleep_for;

struct Handler final : H2Session::Handler {
  std::function<void(std::unique_ptr<H2Stream>)> request;
  std::vector<std::unique_ptr<H2Stream>> kept;
  bool closed = false;
  unsigned ended = 0;
  void on_request(H2Session&, std::unique_ptr<H2Stream> s) override {
    if (request) request(std::move(s));
    else kept.push_back(std::move(s));
  }
  void on_stream_end(H2Session&) override { ++ended; }
  void on_closed(H2Session&) override { closed = true; }
};

class H2SessionTest : public ::testing::Test {
 protected:
  // `client_settings`: what the client grants, when not `settings`.
  void start(Settings settings = {}, Timing timing = {}, std::optional<Settings> client_settings = {}) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    auto meta = std::make_shared<StreamMeta>();
    client_ = std::make_unique<H2Session>(H2Session::Role::kClient, std::make_unique<TcpStream>(fds[0], poller_, meta),
                                          ctx_, buffers_, budget_, client_settings.value_or(settings), timing,
                                          client_handler_);
    server_ = std::make_unique<H2Session>(H2Session::Role::kServer, std::make_unique<TcpStream>(fds[1], poller_, meta),
                                          ctx_, buffers_, budget_, settings, timing, server_handler_);
    client_->start();
    server_->start();
  }

  // The server answers each request 200 and hands its stream to the test.
  void answer_and_keep(std::unique_ptr<H2Stream>& at_server) {
    server_handler_.request = [&at_server](std::unique_ptr<H2Stream> s) {
      s->respond(200);
      at_server = std::move(s);
    };
  }
  void answer_and_keep(std::vector<std::unique_ptr<H2Stream>>& at_server) {
    server_handler_.request = [&at_server](std::unique_ptr<H2Stream> s) {
      s->respond(200);
      at_server.push_back(std::move(s));
    };
  }

  // A client stream for CONNECT `authority`, sent at once.
  std::unique_ptr<H2Stream> connect(std::string authority = "127.0.0.1:8080",
                                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    return ugate::test::open_connect(ctx_, *client_, std::move(authority), std::move(headers));
  }

  // Runs the scenario coroutine on the io_context until it returns.
  void run(std::function<asio::awaitable<void>()> scenario, std::chrono::seconds limit = std::chrono::seconds(30)) {
    bool done = false;
    asio::co_spawn(ctx_, [&]() -> asio::awaitable<void> {
      co_await scenario();
      done = true;
    }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < deadline) ctx_.run_one_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(done) << "scenario timed out";
  }

  // A server session whose peer is a raw socket (returned), for frames no library sends.
  int start_server_only(Timing timing = {}) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    server_ = std::make_unique<H2Session>(H2Session::Role::kServer,
                                          std::make_unique<TcpStream>(fds[1], poller_, std::make_shared<StreamMeta>()),
                                          ctx_, buffers_, budget_, Settings{}, timing, server_handler_);
    server_->start();
    return fds[0];
  }

  // Lets pending handlers run (frames in flight arrive).
  void settle() {
    for (int i = 0; i < 200 && ctx_.poll() > 0;) ++i;
  }

  asio::io_context ctx_;
  Poller poller_{ctx_};
  BufferPool buffers_;
  SendBudget budget_{ctx_};
  Handler client_handler_, server_handler_;
  std::unique_ptr<H2Session> client_, server_;
};

}  // namespace ugate::h2::test

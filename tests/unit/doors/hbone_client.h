#pragma once
// An HBONE client for the door tests: an HTTP/2 client session (ugate's own
// H2Session, as the mesh pool uses it) on the test's thread and io_context,
// over a loopback TCP connection to the door under test, or over TLS on it
// (the mesh door). The test runs a scenario coroutine on that io_context
// until it ends, within a bound; the upstream end of a tunnel (a socket the
// fake connector's dial reached) is driven from the same coroutine.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>

#include "stream_test_util.h"
#include <memory>
#include <string>
#include <vector>

#include "loopback.h"
#include "mesh/h2_session.h"
#include "runtime/buffer_pool.h"
#include "runtime/poller.h"
#include "transport/stream_wait.h"
#include "transport/tcp_stream.h"
#include "transport/tls_stream.h"

namespace ugate::test {

using Fields = std::vector<std::pair<std::string, std::string>>;

// Exactly n bytes, or fewer when the stream ended or failed.
inline asio::awaitable<std::string> read_exactly(Stream& s, size_t n) {
  std::string out;
  char buf[16384];
  while (out.size() < n) {
    error_code ec;
    size_t got = s.try_read(asio::buffer(buf, std::min(sizeof buf, n - out.size())), ec);
    if (got > 0) {
      out.append(buf, got);
      continue;
    }
    if (ec != asio::error::would_block) break;
    if ((ec = co_await wait_readable(s))) break;
  }
  co_return out;
}

class HboneClient final : public h2::H2Session::Handler {
 public:
  // As the session's contract says: ended, then destroyed once on_closed()
  // came (no callback of its own is pending then). Handlers still queued on
  // the io_context when it goes are destroyed without being run.
  ~HboneClient() {
    if (session_ && !closed_) session_->terminate(h2::EndReason::kClosed);
    for (int i = 0; i < 200 && session_ && !closed_; ++i) ctx_.run_one_for(std::chrono::milliseconds(5));
    session_.reset();
  }

  // A TCP connection to 127.0.0.1:port, as a stream of this client's io_context.
  std::unique_ptr<Stream> tcp_to(uint16_t port) {
    int fd = loopback_connect(port);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return std::make_unique<TcpStream>(fd, poller_, std::make_shared<StreamMeta>());
  }
  // A connected descriptor as a stream of this client's io_context (an upstream end).
  std::unique_ptr<TcpStream> adopt(int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return std::make_unique<TcpStream>(fd, poller_, std::make_shared<StreamMeta>());
  }

  // Starts the HTTP/2 client session over `transport` (plain TCP, or TLS whose ALPN chose h2).
  void start(std::unique_ptr<Stream> transport) {
    session_ = std::make_unique<h2::H2Session>(h2::H2Session::Role::kClient, std::move(transport), ctx_, buffers_,
                                               budget_, h2::Settings{}, h2::Timing{}, *this);
    session_->start();
  }

  // A CONNECT-like request on the session: `authority`, `headers`; with
  // `method` other than CONNECT the request is sent as that method.
  std::unique_ptr<h2::H2Stream> connect(std::string authority, Fields headers = {}) {
    return open_connect(ctx_, *session_, std::move(authority), std::move(headers));
  }

  // Runs `scenario` on this client's io_context until it returns (or the limit).
  bool run(std::function<asio::awaitable<void>()> scenario, std::chrono::milliseconds limit = std::chrono::seconds(3)) {
    bool done = false;
    asio::co_spawn(
        ctx_,
        [&]() -> asio::awaitable<void> {
          co_await scenario();
          done = true;
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < deadline) ctx_.run_one_for(std::chrono::milliseconds(20));
    return done;
  }

  // Waits (on this io_context, up to 2 s) for a connection on `listener`; -1 when none came.
  asio::awaitable<int> accept_on(int listener) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{listener, POLLIN, 0};
      if (::poll(&p, 1, 0) == 1) co_return ::accept(listener, nullptr, nullptr);
      co_await sleep_for(std::chrono::milliseconds(2));
    }
    co_return -1;
  }

  // The response's proxy-status, or "".
  static std::string proxy_status(const h2::H2Stream& s) {
    const std::string* v = s.message().header("proxy-status");
    return v ? *v : "";
  }

  h2::H2Session& session() { return *session_; }
  bool closed() const { return closed_; }
  asio::io_context& context() { return ctx_; }
  Poller& poller() { return poller_; }

  void on_request(h2::H2Session&, std::unique_ptr<h2::H2Stream>) override {}  // a client is never asked
  void on_closed(h2::H2Session&) override { closed_ = true; }

 private:
  asio::io_context ctx_;
  Poller poller_{ctx_};
  BufferPool buffers_;
  h2::SendBudget budget_{ctx_};
  std::unique_ptr<h2::H2Session> session_;
  bool closed_ = false;
};

}  // namespace ugate::test

// The HTTP/2 session (nghttp2 glue, transactions, H2Stream) between a client
// and a server session over a socketpair, on one io_context.
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

namespace ugate::h2 {
namespace {

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Writes everything, then (by default) ends the stream.
asio::awaitable<error_code> send_all(Stream& s, std::string_view bytes, bool then_shutdown = true) {
  error_code ec = co_await write_all(s, bytes);
  if (!ec && then_shutdown) s.shutdown_write();
  co_return ec;
}

// Reads until EOF (ec stays clear) or an error (ec says which).
asio::awaitable<std::string> read_to_end(Stream& s, error_code& ec, size_t chunk = 65536) {
  std::string out;
  std::vector<char> buf(chunk);
  for (;;) {
    size_t n = s.try_read(asio::buffer(buf), ec);
    if (n > 0) {
      out.append(buf.data(), n);
      continue;
    }
    if (ec == asio::error::would_block) {
      if ((ec = co_await wait_readable(s))) co_return out;
      continue;
    }
    if (ec == asio::error::eof) ec = {};
    co_return out;
  }
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::use_awaitable);
}

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

  // A client stream for CONNECT `authority`, sent at once.
  std::unique_ptr<H2Stream> connect(std::string authority = "127.0.0.1:8080",
                                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto s = std::make_unique<H2Stream>(ctx_, std::make_shared<StreamMeta>());
    auto p = std::make_unique<H2Stream::Pending>();
    p->authority = std::move(authority);
    p->headers = std::move(headers);
    s->set_pending(std::move(p));
    EXPECT_TRUE(client_->open(*s));
    return s;
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

TEST_F(H2SessionTest, ConnectCarriesAuthorityAndHeadersAndWaitsForTheAnswer) {
  start();
  std::unique_ptr<H2Stream> at_server;
  server_handler_.request = [&](std::unique_ptr<H2Stream> s) { at_server = std::move(s); };
  auto s = connect("10.1.2.3:8080", {{"forwarded", "for=\"192.0.2.1:1234\""}, {"traceparent", "00-ab-cd-01"}});
  run([&]() -> asio::awaitable<void> {
    while (!at_server) co_await sleep_for(std::chrono::milliseconds(5));
    const Message& m = at_server->message();
    EXPECT_EQ(m.method, "CONNECT");
    EXPECT_EQ(m.authority, "10.1.2.3:8080");
    EXPECT_TRUE(m.path.empty());
    EXPECT_EQ(m.header("forwarded") ? *m.header("forwarded") : "", "for=\"192.0.2.1:1234\"");
    EXPECT_EQ(m.header("traceparent") ? *m.header("traceparent") : "", "00-ab-cd-01");
    EXPECT_EQ(s->status(), 0) << "no answer before the server gives one";
    EXPECT_TRUE(at_server->respond(200, {{"x-test", "yes"}}));
    EXPECT_FALSE(co_await wait_readable(*s));
    EXPECT_EQ(s->status(), 200);
    EXPECT_NE(s->message().header("x-test"), nullptr);
  });
}

TEST_F(H2SessionTest, MovesBytesBothWaysExactlyWithHalfClose) {
  start();
  const std::string up = random_bytes(24 << 20, 1), down = random_bytes(20 << 20, 2);
  std::string got_up, got_down;
  error_code up_ec, down_ec;
  std::unique_ptr<H2Stream> at_server;
  server_handler_.request = [&](std::unique_ptr<H2Stream> s) {
    s->respond(200);
    at_server = std::move(s);
  };
  auto s = connect();
  run([&]() -> asio::awaitable<void> {
    co_await wait_readable(*s);
    EXPECT_EQ(s->status(), 200);
    asio::co_spawn(ctx_, [&]() -> asio::awaitable<void> { co_await send_all(*s, up); }, asio::detached);
    while (!at_server) co_await sleep_for(std::chrono::milliseconds(1));
    asio::co_spawn(ctx_, [&]() -> asio::awaitable<void> {
      got_up = co_await read_to_end(*at_server, up_ec);
      co_await send_all(*at_server, down);  // only after the client's EOF: half-close works
    }, asio::detached);
    got_down = co_await read_to_end(*s, down_ec);
  });
  EXPECT_FALSE(up_ec);
  EXPECT_FALSE(down_ec);
  EXPECT_TRUE(got_up == up) << got_up.size();
  EXPECT_TRUE(got_down == down) << got_down.size();
  s->close();
  at_server->close();
  settle();
  EXPECT_EQ(client_->streams(), 0u);
  EXPECT_EQ(server_->streams(), 0u);
}

// A stream's DATA source lives only while it has bytes to send: it ends with the
// frame that empties the queue and a new one starts with the next write. Bytes
// written before the request HEADERS left, in bursts with idle spells between,
// and the end after an idle spell all arrive, in order.
TEST_F(H2SessionTest, BytesWrittenEarlyAndAfterIdleSpellsArriveInOrder) {
  start();
  std::unique_ptr<H2Stream> at_server;
  server_handler_.request = [&](std::unique_ptr<H2Stream> s) {
    s->respond(200);
    at_server = std::move(s);
  };
  auto s = connect();
  error_code ec;
  EXPECT_EQ(s->try_write(asio::buffer(std::string_view("early;")), ec), 6u) << "queued before the HEADERS went out";
  std::string sent_up, sent_down, got_up, got_down;
  error_code up_ec, down_ec;
  run([&]() -> asio::awaitable<void> {
    while (!at_server) co_await sleep_for(std::chrono::milliseconds(1));
    char early[6];
    size_t n = 0;
    for (int i = 0; i < 500 && n < sizeof early; ++i) {  // nothing else is written until these came
      n += at_server->try_read(asio::buffer(early + n, sizeof early - n), ec);
      if (n < sizeof early) co_await sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(std::string_view(early, n), "early;");
    asio::co_spawn(ctx_, [&]() -> asio::awaitable<void> { got_up = co_await read_to_end(*at_server, up_ec, 7); },
                   asio::detached);
    for (int i = 0; i < 40; ++i) {
      std::string up = random_bytes(1 + i * 997 % 5000, i), down = random_bytes(1 + i * 131 % 300, 100 + i);
      EXPECT_FALSE(co_await send_all(*s, up, false));
      EXPECT_FALSE(co_await send_all(*at_server, down, false));
      sent_up += up;
      sent_down += down;
      co_await sleep_for(std::chrono::milliseconds(i % 3));  // the queues run dry: each source ends
    }
    s->shutdown_write();
    at_server->shutdown_write();
    got_down = co_await read_to_end(*s, down_ec);
    while (!s->peer_finished() || got_up.size() < sent_up.size()) co_await sleep_for(std::chrono::milliseconds(1));
  });
  EXPECT_FALSE(up_ec);
  EXPECT_FALSE(down_ec);
  EXPECT_TRUE(got_up == sent_up) << got_up.size() << " of " << sent_up.size();
  EXPECT_TRUE(got_down == sent_down) << got_down.size() << " of " << sent_down.size();
}

TEST_F(H2SessionTest, NonSuccessAnswerEndsTheStream) {
  start();
  server_handler_.request = [&](std::unique_ptr<H2Stream> s) {
    s->respond(503, {{"proxy-status", "ugate; error=connection_refused"}});
    server_handler_.kept.push_back(std::move(s));
  };
  auto s = connect();
  run([&]() -> asio::awaitable<void> {
    co_await wait_readable(*s);
    EXPECT_EQ(s->status(), 503);
    EXPECT_NE(s->message().header("proxy-status"), nullptr);
    error_code ec;
    std::string rest = co_await read_to_end(*s, ec);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(rest.empty());
  });
}

TEST_F(H2SessionTest, ResetsTravelBothWays) {
  start();
  std::vector<std::unique_ptr<H2Stream>> at_server;
  server_handler_.request = [&](std::unique_ptr<H2Stream> s) {
    s->respond(200);
    at_server.push_back(std::move(s));
  };
  auto a = connect(), b = connect();
  run([&]() -> asio::awaitable<void> {
    while (at_server.size() < 2) co_await sleep_for(std::chrono::milliseconds(2));
    co_await send_all(*a, "hello", false);
    co_await send_all(*at_server[1], "hi", false);
    a->reset();  // client -> server
    error_code ec;
    std::string got = co_await read_to_end(*at_server[0], ec);
    EXPECT_EQ(ec, asio::error::connection_reset);
    at_server[1]->reset();  // server -> client
    std::string got_b = co_await read_to_end(*b, ec);
    EXPECT_EQ(ec, asio::error::connection_reset);
    size_t n = b->try_write(asio::buffer("x", 1), ec);
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(ec, asio::error::connection_reset);
  });
}

// One reader that does not read holds its own window, not the connection's.
TEST_F(H2SessionTest, StalledStreamDoesNotStallTheOthers) {
  start();
  std::vector<std::unique_ptr<H2Stream>> at_server;
  server_handler_.request = [&](std::unique_ptr<H2Stream> s) {
    s->respond(200);
    at_server.push_back(std::move(s));
  };
  auto stalled = connect(), busy = connect();
  const std::string big = random_bytes(32 << 20, 3);
  run([&]() -> asio::awaitable<void> {
    while (at_server.size() < 2) co_await sleep_for(std::chrono::milliseconds(2));
    asio::co_spawn(ctx_, send_all(*stalled, big), asio::detached);  // its reader never reads (yet)
    asio::co_spawn(ctx_, send_all(*busy, big), asio::detached);
    error_code ec;
    std::string got = co_await read_to_end(*at_server[1], ec);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(got == big) << got.size();
    // The stalled stream has at most its window buffered at the server.
    EXPECT_GT(at_server[0]->buffered(), 0u);
    EXPECT_LE(at_server[0]->buffered(), Settings{}.stream_window);
    std::string late = co_await read_to_end(*at_server[0], ec);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(late == big) << late.size();
  });
}

// WINDOW_UPDATE only for bytes the reader came back after: a reader that took
// bytes but did not return keeps the sender at the window.
TEST_F(H2SessionTest, WindowCreditOnlyForDeliveredBytes) {
  Settings settings;
  settings.stream_window = 64 * 1024;
  settings.connection_window = 1 << 20;
  start(settings);
  std::unique_ptr<H2Stream> at_server;
  server_handler_.request = [&](std::unique_ptr<H2Stream> s) {
    s->respond(200);
    at_server = std::move(s);
  };
  auto s = connect();
  const std::string data = random_bytes(1 << 20, 4);
  run([&]() -> asio::awaitable<void> {
    while (!at_server) co_await sleep_for(std::chrono::milliseconds(2));
    asio::co_spawn(ctx_, send_all(*s, data), asio::detached);
    co_await sleep_for(std::chrono::milliseconds(200));
    // Take everything that arrived, then do not come back for a while.
    std::vector<char> buf(1 << 20);
    error_code ec;
    size_t first = at_server->try_read(asio::buffer(buf), ec);
    EXPECT_EQ(first, settings.stream_window) << "exactly one window arrives before any credit";
    co_await sleep_for(std::chrono::milliseconds(200));
    // Nothing more came: the bytes taken were not credited yet. The next
    // read credits them and the rest flows.
    EXPECT_EQ(at_server->buffered(), 0u);
    std::string rest = co_await read_to_end(*at_server, ec);
    EXPECT_FALSE(ec);
    EXPECT_EQ(first + rest.size(), data.size());
    EXPECT_TRUE(std::string(buf.data(), first) + rest == data);
  });
}

TEST_F(H2SessionTest, ManyConcurrentStreams) {
  start();
  server_handler_.request = [&](std::unique_ptr<H2Stream> s) {
    s->respond(200);
    // Echo each stream back, on its own coroutine.
    auto* raw = s.get();
    server_handler_.kept.push_back(std::move(s));
    asio::co_spawn(ctx_, [raw]() -> asio::awaitable<void> {
      error_code ec;
      std::string got = co_await read_to_end(*raw, ec);
      co_await send_all(*raw, got);
    }, asio::detached);
  };
  constexpr int kStreams = 300;
  std::vector<std::unique_ptr<H2Stream>> streams;
  for (int i = 0; i < kStreams; ++i) streams.push_back(connect());
  int ok = 0;
  run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < kStreams; ++i) {
      asio::co_spawn(ctx_, [&, i]() -> asio::awaitable<void> {
        H2Stream& s = *streams[i];
        co_await wait_readable(s);
        std::string mine = random_bytes(64 * 1024 + i, 100 + i);
        asio::co_spawn(ctx_, send_all(s, mine), asio::detached);
        error_code ec;
        std::string back = co_await read_to_end(s, ec);
        if (!ec && back == mine) ++ok;
      }, asio::detached);
    }
    while (ok < kStreams) co_await sleep_for(std::chrono::milliseconds(10));
  });
  EXPECT_EQ(ok, kStreams);
}

TEST_F(H2SessionTest, LostConnectionFailsEveryStream) {
  start();
  server_handler_.request = [&](std::unique_ptr<H2Stream> s) {
    s->respond(200);
    server_handler_.kept.push_back(std::move(s));
  };
  auto a = connect(), b = connect();
  run([&]() -> asio::awaitable<void> {
    while (server_handler_.kept.size() < 2) co_await sleep_for(std::chrono::milliseconds(2));
    client_->transport().reset();
    error_code ec;
    co_await read_to_end(*server_handler_.kept[0], ec);
    EXPECT_EQ(ec, asio::error::connection_reset);
    co_await read_to_end(*a, ec);
    EXPECT_EQ(ec, asio::error::connection_reset);
    while (!server_handler_.closed || !client_handler_.closed) co_await sleep_for(std::chrono::milliseconds(2));
  });
  EXPECT_EQ(server_->end_reason(), EndReason::kPeerClosed);
  EXPECT_EQ(server_->streams(), 0u);
}

TEST_F(H2SessionTest, GarbageFromThePeerIsAProtocolError) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  server_ = std::make_unique<H2Session>(H2Session::Role::kServer,
                                        std::make_unique<TcpStream>(fds[1], poller_, std::make_shared<StreamMeta>()),
                                        ctx_, buffers_, budget_, Settings{}, Timing{}, server_handler_);
  server_->start();
  std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::write(fds[0], junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  run([&]() -> asio::awaitable<void> {
    while (!server_handler_.closed) co_await sleep_for(std::chrono::milliseconds(2));
  });
  EXPECT_EQ(server_->end_reason(), EndReason::kProtocolError);
  ::close(fds[0]);
}

TEST_F(H2SessionTest, KeepalivePingsAndGivesUpOnASilentPeer) {
  Timing timing;
  timing.keepalive_interval = 1;
  timing.keepalive_timeout = 1;
  start(Settings{}, timing);
  run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 5; ++i) {  // a live peer answers every PING
      client_->on_tick();
      co_await sleep_for(std::chrono::milliseconds(20));
    }
  });
  EXPECT_FALSE(client_->closed());
  // A peer that stops reading: the PING goes unanswered.
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  Handler h;
  H2Session lonely(H2Session::Role::kClient, std::make_unique<TcpStream>(fds[0], poller_, std::make_shared<StreamMeta>()),
                   ctx_, buffers_, budget_, Settings{}, timing, h);
  lonely.start();
  run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 10 && !h.closed; ++i) {
      lonely.on_tick();
      co_await sleep_for(std::chrono::milliseconds(10));
    }
  });
  EXPECT_TRUE(h.closed);
  EXPECT_EQ(lonely.end_reason(), EndReason::kKeepaliveTimeout);
  ::close(fds[1]);
}

TEST_F(H2SessionTest, IdleConnectionSaysGoawayAndCloses) {
  Timing timing;
  timing.idle_timeout = 2;
  start(Settings{}, timing);
  run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 5 && !client_handler_.closed; ++i) {
      client_->on_tick();
      co_await sleep_for(std::chrono::milliseconds(20));
    }
    while (!client_handler_.closed || !server_handler_.closed) co_await sleep_for(std::chrono::milliseconds(5));
  });
  EXPECT_EQ(client_->end_reason(), EndReason::kIdle);
  EXPECT_FALSE(server_->usable());
}

// A peer that grants no window (SETTINGS_INITIAL_WINDOW_SIZE 0) cannot make a
// writer queue more than kMinSendQueue on its stream: the rest stays in the
// writer's source (a socket ugate stops reading), not in ugate's memory.
TEST_F(H2SessionTest, ZeroWindowPeerBoundsWhatAWriterQueues) {
  Settings stingy;
  stingy.stream_window = 0;
  start(Settings{}, Timing{}, stingy);
  std::unique_ptr<H2Stream> at_server;
  server_handler_.request = [&](std::unique_ptr<H2Stream> s) {
    s->respond(200);
    at_server = std::move(s);
  };
  auto s = connect();
  run([&]() -> asio::awaitable<void> {
    co_await wait_readable(*s);
    while (!at_server) co_await sleep_for(std::chrono::milliseconds(1));
    co_await sleep_for(std::chrono::milliseconds(20));  // the client's SETTINGS are in
  });
  const std::string data = random_bytes(1 << 20, 7);
  size_t accepted = 0;
  error_code ec;
  while (accepted < data.size()) {
    size_t n = at_server->try_write(asio::buffer(data.data() + accepted, data.size() - accepted), ec);
    if (n == 0) break;
    accepted += n;
  }
  EXPECT_EQ(ec, asio::error::would_block);
  EXPECT_EQ(accepted, H2Stream::kMinSendQueue);
  EXPECT_EQ(at_server->write_room(), 0u);
  EXPECT_EQ(server_->queued(), H2Stream::kMinSendQueue);
  EXPECT_EQ(budget_.used(), H2Stream::kMinSendQueue);
  // A reset gives the queued bytes back.
  s->reset();
  run([&]() -> asio::awaitable<void> {
    while (at_server->write_room() == 0) co_await sleep_for(std::chrono::milliseconds(2));
  });
  EXPECT_EQ(server_->queued(), 0u);
  EXPECT_EQ(budget_.used(), 0u);
}

// A small window: the writer queues no more than the window and is woken as
// the reader's WINDOW_UPDATEs open it, until every byte is through.
TEST_F(H2SessionTest, WriterWakesAsTheWindowOpens) {
  Settings small;
  small.stream_window = 24 * 1024;
  start(Settings{}, Timing{}, small);
  std::unique_ptr<H2Stream> at_server;
  server_handler_.request = [&](std::unique_ptr<H2Stream> s) {
    s->respond(200);
    at_server = std::move(s);
  };
  auto s = connect();
  const std::string down = random_bytes(3 << 20, 8);
  std::string got;
  size_t peak = 0;
  run([&]() -> asio::awaitable<void> {
    co_await wait_readable(*s);
    while (!at_server) co_await sleep_for(std::chrono::milliseconds(1));
    asio::co_spawn(ctx_, send_all(*at_server, down), asio::detached);
    std::vector<char> buf(7000);
    for (;;) {
      peak = std::max(peak, server_->queued());
      error_code ec;
      size_t n = s->try_read(asio::buffer(buf), ec);
      if (n > 0) {
        got.append(buf.data(), n);
        continue;
      }
      if (ec != asio::error::would_block) break;
      ec = co_await wait_readable(*s);
      if (ec) break;
    }
  });
  EXPECT_TRUE(got == down) << got.size();
  EXPECT_LE(peak, small.stream_window);
  EXPECT_GT(peak, 0u);
}

// Frames as a hostile client writes them (RFC 9113 section 4.1).
std::string frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  for (int shift : {16, 8, 0}) f += static_cast<char>(payload.size() >> shift);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  for (int shift : {24, 16, 8, 0}) f += static_cast<char>(stream >> shift);
  return f.append(payload);
}

const std::string kPreface = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + frame(0x4, 0, 0, "");

// The GOAWAY error codes in what the server wrote to `fd`.
std::vector<uint32_t> goaway_codes(int fd) {
  std::string in;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) in.append(buf, n);
  std::vector<uint32_t> codes;
  for (size_t at = 0; at + 9 <= in.size();) {
    auto byte = [&](size_t i) { return static_cast<uint8_t>(in[i]); };
    size_t len = byte(at) << 16 | byte(at + 1) << 8 | byte(at + 2);
    if (byte(at + 3) == 0x7 && len >= 8 && at + 9 + len <= in.size())
      codes.push_back(byte(at + 13) << 24 | byte(at + 14) << 16 | byte(at + 15) << 8 | byte(at + 16));
    at += 9 + len;
  }
  return codes;
}

// CVE-2023-44487's shape: HEADERS then RST_STREAM, again and again. No stream
// already reset reaches the handler (nothing is dialled for it), and the
// connection ends with GOAWAY(ENHANCE_YOUR_CALM) and a reason of its own.
TEST_F(H2SessionTest, RapidResetEndsWithEnhanceYourCalm) {
  int fd = start_server_only();
  unsigned requests = 0;
  server_handler_.request = [&](std::unique_ptr<H2Stream>) { ++requests; };
  // :method CONNECT and :authority, literal headers with indexed names (RFC 7541 6.2.2).
  const std::string block = std::string("\x02\x07") + "CONNECT" + "\x01\x0b" + "127.0.0.1:9";
  std::string flood = kPreface;
  for (uint32_t id = 1; id < 2 * 150; id += 2)
    flood += frame(0x1, 0x4, id, block) + frame(0x3, 0, id, std::string("\0\0\0\x08", 4));
  ASSERT_EQ(::write(fd, flood.data(), flood.size()), static_cast<ssize_t>(flood.size()));
  run([&]() -> asio::awaitable<void> {
    while (!server_handler_.closed) co_await sleep_for(std::chrono::milliseconds(2));
  });
  EXPECT_EQ(server_->end_reason(), EndReason::kTooManyResets);
  EXPECT_GE(server_->premature_resets(), H2Session::kPrematureResets);
  EXPECT_EQ(requests, 0u);
  EXPECT_EQ(goaway_codes(fd), std::vector<uint32_t>{kEnhanceYourCalm});
  ::close(fd);
}

// A client that connects and never sends its preface is closed after
// preface_timeout, not kept until the keepalive gives up on it.
TEST_F(H2SessionTest, NoPrefaceClosesAfterPrefaceTimeout) {
  Timing timing;
  timing.preface_timeout = 2;
  int fd = start_server_only(timing);
  for (int i = 0; i < 2; ++i) server_->on_tick();
  EXPECT_FALSE(server_->closed());
  server_->on_tick();
  EXPECT_TRUE(server_->closed());
  EXPECT_EQ(server_->end_reason(), EndReason::kPrefaceTimeout);
  ::close(fd);
  settle();  // its wake-ups run before it goes
  // One that sent it stays.
  server_handler_.closed = false;
  fd = start_server_only(timing);
  ASSERT_EQ(::write(fd, kPreface.data(), kPreface.size()), static_cast<ssize_t>(kPreface.size()));
  run([&]() -> asio::awaitable<void> { co_await sleep_for(std::chrono::milliseconds(20)); });
  for (int i = 0; i < 5; ++i) server_->on_tick();
  EXPECT_FALSE(server_->closed());
  ::close(fd);
}

// The proxy engine moves bytes through H2 streams as through sockets:
// TCP client -> Proxy -> H2Stream (client) => H2Stream (server) -> Proxy -> TCP.
struct ProxyRun final : ProxyOwner {
  ProxyRun(asio::io_context& io, BufferPool& buffers, Stream& down, Stream& up)
      : down(down), up(up), ctx{io, buffers, pipes, true, now, last_active, stats}, proxy(down, up, ctx, *this) {}
  void proxy_done(CloseReason r) override {  // as Session does: close() sends the last end
    down.close();
    up.close();
    reason = r;
    done = true;
  }
  Stream& down;
  Stream& up;
  PipePool pipes;
  uint32_t now = 0, last_active = 0;
  ListenerStats stats;
  ProxyContext ctx;
  Proxy proxy;
  bool done = false;
  CloseReason reason = CloseReason::kDone;
};

TEST_F(H2SessionTest, ProxyEngineMovesBytesThroughH2Streams) {
  start();
  int a[2], b[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, a), 0);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, b), 0);
  auto meta = std::make_shared<StreamMeta>();
  TcpStream client(a[0], poller_, meta), client_side(a[1], poller_, meta);
  TcpStream upstream(b[0], poller_, meta), upstream_side(b[1], poller_, meta);
  std::unique_ptr<H2Stream> at_server;
  server_handler_.request = [&](std::unique_ptr<H2Stream> s) {
    s->respond(200);
    at_server = std::move(s);
  };
  auto tunnel = connect();
  std::optional<ProxyRun> near, far;
  const std::string up = random_bytes(40 << 20, 5), down = random_bytes(36 << 20, 6);
  std::string got_up, got_down;
  run([&]() -> asio::awaitable<void> {
    co_await wait_readable(*tunnel);
    while (!at_server) co_await sleep_for(std::chrono::milliseconds(1));
    near.emplace(ctx_, buffers_, client_side, *tunnel);
    far.emplace(ctx_, buffers_, *at_server, upstream_side);
    near->proxy.start();
    far->proxy.start();
    asio::co_spawn(ctx_, send_all(client, up), asio::detached);
    asio::co_spawn(ctx_, send_all(upstream, down), asio::detached);
    error_code e1, e2;
    bool up_read = false;
    asio::co_spawn(ctx_, [&]() -> asio::awaitable<void> {
      got_up = co_await read_to_end(upstream, e1, 300'000);
      up_read = true;
    }, asio::detached);
    got_down = co_await read_to_end(client, e2, 7'000);  // small reads: the slow side
    while (!near->done || !far->done || !up_read) co_await sleep_for(std::chrono::milliseconds(2));
    EXPECT_FALSE(e1) << e1.message();
    EXPECT_FALSE(e2) << e2.message();
  });
  EXPECT_TRUE(got_up == up) << got_up.size();
  EXPECT_TRUE(got_down == down) << got_down.size() ;
  EXPECT_EQ(near->reason, CloseReason::kDone);
  EXPECT_EQ(far->reason, CloseReason::kDone);
  EXPECT_EQ(meta->mode, ProxyMode::kCopy);
  settle();
  EXPECT_EQ(client_->streams(), 0u);
  EXPECT_EQ(server_->streams(), 0u);
}

}  // namespace
}  // namespace ugate::h2

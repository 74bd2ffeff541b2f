// The HTTP/2 session (nghttp2 glue, transactions, H2Stream) between a client
// and a server session over a socketpair: streams, bytes, resets, failures.
#include "mesh/h2_session_fixture.h"

namespace ugate::h2 {
namespace {
using namespace test;

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
  answer_and_keep(at_server);
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
  answer_and_keep(at_server);
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
  answer_and_keep(at_server);
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
  answer_and_keep(at_server);
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
  answer_and_keep(at_server);
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

}  // namespace
}  // namespace ugate::h2

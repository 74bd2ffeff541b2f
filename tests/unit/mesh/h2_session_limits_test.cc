// The HTTP/2 session's limits and timers: keepalive, idle close, bounded
// queues, rapid reset, the preface timeout; and the proxy engine over it.
#include "mesh/h2_session_fixture.h"

namespace ugate::h2 {
namespace {
using namespace test;

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

// A lasting connection (no idle release) with nothing timed lets its owner
// sleep until the keepalive is due; one on_tick() of that many seconds sends
// the PING, and the owner ticks each second again until the answer came.
TEST_F(H2SessionTest, LastingConnectionTicksOncePerKeepaliveInterval) {
  Timing timing;
  timing.keepalive_interval = 30;
  timing.idle_timeout = 0;
  start(Settings{}, timing);
  run([&]() -> asio::awaitable<void> {
    while (!server_->usable() || client_->tick_after() == 1) co_await sleep_for(std::chrono::milliseconds(5));
  });
  EXPECT_EQ(client_->tick_after(), 30u);  // heard the server's SETTINGS: quiet from now
  client_->on_tick(10);
  EXPECT_EQ(client_->tick_after(), 20u);
  client_->on_tick(20);  // due: the PING goes out
  EXPECT_EQ(client_->tick_after(), 1u);
  run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 200 && client_->tick_after() == 1; ++i) {
      co_await sleep_for(std::chrono::milliseconds(5));
      client_->on_tick();  // the answer ends the wait for it
    }
  });
  EXPECT_EQ(client_->tick_after(), 29u);
  EXPECT_FALSE(client_->closed());

  Timing pooled;  // idle release counts each second while no stream is open
  pooled.idle_timeout = 300;
  Handler h;
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  H2Session idle(H2Session::Role::kClient, std::make_unique<TcpStream>(fds[0], poller_, std::make_shared<StreamMeta>()),
                 ctx_, buffers_, budget_, Settings{}, pooled, h);
  idle.start();
  EXPECT_EQ(idle.tick_after(), 1u);
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
  answer_and_keep(at_server);
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
  answer_and_keep(at_server);
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
    while (!server_->closed()) co_await sleep_for(std::chrono::milliseconds(2));
  });
  EXPECT_EQ(server_->end_reason(), EndReason::kTooManyResets);
  EXPECT_GE(server_->premature_resets(), H2Session::kPrematureResets);
  EXPECT_EQ(requests, 0u);
  EXPECT_EQ(goaway_codes(fd), std::vector<uint32_t>{kEnhanceYourCalm});
  ::close(fd);
  run([&]() -> asio::awaitable<void> {
    while (!server_handler_.closed) co_await sleep_for(std::chrono::milliseconds(2));
  });
}

// A protocol error is answered with GOAWAY and a FIN; what the peer still sends is read and dropped
// (closing with it unread would send an RST, which can reach the peer before it read the GOAWAY and
// make it discard it), and the session ends at the peer's EOF.
TEST_F(H2SessionTest, AProtocolErrorIsAnsweredWithGoawayThenTheRestIsDrained) {
  int fd = start_server_only();
  std::string junk = kPreface + frame(0x4, 0, 1, "");  // SETTINGS on a stream: PROTOCOL_ERROR
  ASSERT_EQ(::write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  run([&]() -> asio::awaitable<void> {
    while (!server_->closed()) co_await sleep_for(std::chrono::milliseconds(2));
  });
  EXPECT_EQ(server_->end_reason(), EndReason::kProtocolError);
  EXPECT_EQ(goaway_codes(fd), std::vector<uint32_t>{kProtocolError});  // read to the FIN
  // More than the socket buffers hold: it gets through only because the server reads it.
  std::string more(64 * 1024, 'x');
  size_t sent = 0;
  run([&]() -> asio::awaitable<void> {
    while (sent < H2Session::kLingerBytes / 2) {
      ssize_t n = ::write(fd, more.data(), more.size());
      if (n > 0) sent += n;
      else co_await sleep_for(std::chrono::milliseconds(1));
    }
  });
  EXPECT_FALSE(server_handler_.closed) << "still draining, for the peer's EOF or the byte limit";
  ::close(fd);
  run([&]() -> asio::awaitable<void> {
    while (!server_handler_.closed) co_await sleep_for(std::chrono::milliseconds(2));
  });
}

// A peer that neither stops sending nor closes is cut off after kLingerSeconds ticks.
TEST_F(H2SessionTest, ALingeringCloseEndsAfterItsSeconds) {
  int fd = start_server_only();
  std::string junk = kPreface + frame(0x4, 0, 1, "");  // SETTINGS on a stream: PROTOCOL_ERROR
  ASSERT_EQ(::write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  run([&]() -> asio::awaitable<void> {
    while (!server_->closed()) co_await sleep_for(std::chrono::milliseconds(2));
  });
  for (uint32_t i = 0; i < H2Session::kLingerSeconds; ++i) server_->on_tick();
  settle();
  EXPECT_FALSE(server_handler_.closed);
  server_->on_tick();
  run([&]() -> asio::awaitable<void> {
    while (!server_handler_.closed) co_await sleep_for(std::chrono::milliseconds(2));
  });
  EXPECT_EQ(server_->end_reason(), EndReason::kProtocolError);
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
  answer_and_keep(at_server);
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

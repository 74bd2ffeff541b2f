// The hbone-h2c door (HBONE: HTTP/2 CONNECT in plain text) on a real worker
// with its Mesh (the HBONE server, whose requests go to the doors'
// hbone_door, as the gate wires it) and a fake connector: each CONNECT is
// answered 200 only once its upstream is up, then tunnelled both ways with
// half-close; refused dials answer their status and RFC 9209 Proxy-Status;
// bad requests are refused without a dial. The client is ugate's own HTTP/2
// client session on the test's thread.
#include <nghttp2/nghttp2.h>

#include <algorithm>

#include "door_test.h"
#include "hbone_client.h"

namespace ugate {
namespace {

using namespace test;

// A raw HTTP/2 frame (RFC 9113 section 4.1).
std::string frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  f += static_cast<char>(payload.size() >> 16);
  f += static_cast<char>(payload.size() >> 8);
  f += static_cast<char>(payload.size());
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  for (int shift = 24; shift >= 0; shift -= 8) f += static_cast<char>(stream >> shift);
  f += payload;
  return f;
}

// The header fields of the first HEADERS frame the server sends on `stream`,
// as "name: value\n" lines (HPACK decoded by nghttp2's inflater); "" if none.
std::string response_headers(int fd, uint32_t stream) {
  for (int frames = 0; frames < 20; ++frames) {
    std::string head = read_n(fd, 9);
    if (head.size() != 9) return "";
    size_t length = static_cast<uint8_t>(head[0]) << 16 | static_cast<uint8_t>(head[1]) << 8 | static_cast<uint8_t>(head[2]);
    uint8_t type = static_cast<uint8_t>(head[3]);
    uint32_t id = (static_cast<uint8_t>(head[5]) & 0x7f) << 24 | static_cast<uint8_t>(head[6]) << 16 |
                  static_cast<uint8_t>(head[7]) << 8 | static_cast<uint8_t>(head[8]);
    std::string payload = read_n(fd, length);
    if (type != 1 || id != stream) continue;
    nghttp2_hd_inflater* inflater = nullptr;
    nghttp2_hd_inflate_new(&inflater);
    std::string out;
    auto* in = reinterpret_cast<const uint8_t*>(payload.data());
    size_t left = payload.size();
    for (;;) {
      nghttp2_nv nv;
      int flags = 0;
      ssize_t used = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, in, left, 1);
      if (used < 0) break;
      in += used;
      left -= static_cast<size_t>(used);
      if (flags & NGHTTP2_HD_INFLATE_EMIT)
        out += std::string(reinterpret_cast<char*>(nv.name), nv.namelen) + ": " +
               std::string(reinterpret_cast<char*>(nv.value), nv.valuelen) + "\n";
      if (flags & NGHTTP2_HD_INFLATE_FINAL) break;
      if (used == 0 && left == 0) break;
    }
    nghttp2_hd_inflate_del(inflater);
    return out;
  }
  return "";
}

// Ends a tunnel both ways and waits for its end to come back (the client's
// io_context runs only while a scenario does: its END_STREAM must go out).
asio::awaitable<void> end_tunnel(h2::H2Stream& s, TcpStream& up) {
  s.shutdown_write();
  up.shutdown_write();
  error_code ec;
  co_await read_to_end(s, ec);
  co_await read_to_end(up, ec);
  up.close();
}

class DoorHbone : public DoorTest {
 protected:
  void start_hbone() { start(Protocol::kHboneH2c, nullptr, /*mesh=*/true); }
};

TEST_F(DoorHbone, ConnectIsAnsweredOnceTheUpstreamIsUpThenTunnelled) {
  upstream_listener();
  start_hbone();
  HboneClient client;
  client.start(client.tcp_to(port()));
  auto s = client.connect("10.1.2.3:8080", {{"forwarded", "for=\"192.0.2.1:1234\""},
                                            {"traceparent", "00-ab-cd-01"},
                                            {"x-not-recorded", "1"}});
  bool done = client.run([&]() -> asio::awaitable<void> {
    int up_fd = co_await client.accept_on(upstream_listener_);
    EXPECT_GE(up_fd, 0);
    if (up_fd < 0) co_return;
    auto up = client.adopt(up_fd);
    error_code ec = co_await wait_readable(*s);
    EXPECT_FALSE(ec);
    EXPECT_EQ(s->status(), 200);
    ec = co_await write_all(*s, "ping");
    std::string got = co_await read_exactly(*up, 4);
    EXPECT_EQ(got, "ping");
    ec = co_await write_all(*up, "pong!");
    got = co_await read_exactly(*s, 5);
    EXPECT_EQ(got, "pong!");
    s->shutdown_write();  // END_STREAM: the upstream sees FIN, and may still answer
    std::string rest = co_await read_to_end(*up, ec);
    EXPECT_FALSE(ec);
    EXPECT_EQ(rest, "");
    ec = co_await write_all(*up, "late");
    up->shutdown_write();
    rest = co_await read_to_end(*s, ec);
    EXPECT_FALSE(ec);
    EXPECT_EQ(rest, "late");
    up->close();
  });
  ASSERT_TRUE(done) << "scenario timed out";
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kDone), 1u);
  EXPECT_EQ(slot_->stats.bytes_up.get(), 4u);
  EXPECT_EQ(slot_->stats.bytes_down.get(), 9u);

  ASSERT_EQ(fake_.calls, 1);
  ConnectCall call = fake_.last();
  EXPECT_EQ(call.destination, "10.1.2.3:8080");
  EXPECT_EQ(call.protocol, "hbone-h2c");
  EXPECT_EQ(call.listener, "door-test");
  EXPECT_FALSE(call.own_addresses_only) << "hbone-h2c is a way into the mesh for local apps, not the mesh port";
  EXPECT_EQ(call.headers, "forwarded: for=\"192.0.2.1:1234\"\ntraceparent: 00-ab-cd-01\n")
      << "the recorded request headers, and only those";
}

TEST_F(DoorHbone, StreamsOfOneConnectionAreSessionsOfTheirOwn) {
  upstream_listener();
  start_hbone();
  HboneClient client;
  client.start(client.tcp_to(port()));
  auto a = client.connect("a.test:1");
  auto b = client.connect("b.test:2");
  bool done = client.run([&]() -> asio::awaitable<void> {
    int first = co_await client.accept_on(upstream_listener_);
    int second = co_await client.accept_on(upstream_listener_);
    EXPECT_GE(first, 0);
    EXPECT_GE(second, 0);
    if (first < 0 || second < 0) co_return;
    auto up1 = client.adopt(first);
    auto up2 = client.adopt(second);
    co_await wait_readable(*a);
    co_await wait_readable(*b);
    EXPECT_EQ(a->status(), 200);
    EXPECT_EQ(b->status(), 200);
    // Each tunnel ends both ways: END_STREAM from the client, FIN from the upstream.
    co_await end_tunnel(*a, *up1);
    co_await end_tunnel(*b, *up2);
  });
  ASSERT_TRUE(done) << "scenario timed out";
  ASSERT_TRUE(wait_closed(2)) << reasons();
  auto calls = fake_.records();
  ASSERT_EQ(calls.size(), 2u);
  std::vector<std::string> asked{calls[0].destination, calls[1].destination};
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(asked, (std::vector<std::string>{"a.test:1", "b.test:2"}));
}

TEST_F(DoorHbone, RefusedDialsAnswerStatusAndProxyStatus) {
  start_hbone();
  HboneClient client;
  client.start(client.tcp_to(port()));
  struct Case {
    CloseReason reason;
    int status;
    std::string proxy_status;
  };
  const Case cases[] = {
      {CloseReason::kConnectRefused, 502, "ugate; error=connection_refused"},
      {CloseReason::kConnectTimeout, 504, "ugate; error=connection_timeout"},
      {CloseReason::kResolveFailed, 502, "ugate; error=dns_error"},
      {CloseReason::kNodeUnavailable, 503, "ugate; error=destination_ip_unroutable"},
      {CloseReason::kDenied, 403, "ugate; error=destination_ip_prohibited"},
  };
  uint64_t n = 0;
  for (const Case& c : cases) {
    fake_.refusal = c.reason;
    auto s = client.connect("target.test:80");
    bool done = client.run([&]() -> asio::awaitable<void> {
      co_await wait_readable(*s);
      EXPECT_EQ(s->status(), c.status) << to_string(c.reason);
      EXPECT_EQ(HboneClient::proxy_status(*s), c.proxy_status);
      error_code ec;
      std::string rest = co_await read_to_end(*s, ec);
      EXPECT_EQ(rest, "");
    });
    ASSERT_TRUE(done) << to_string(c.reason);
    ASSERT_TRUE(wait_closed(++n)) << reasons();
    EXPECT_EQ(closed_by(c.reason), 1u) << to_string(c.reason);
  }
  EXPECT_EQ(fake_.calls, static_cast<int>(n));
  EXPECT_FALSE(client.closed()) << "a refused stream leaves the connection up";
}

TEST_F(DoorHbone, DialPastConnectTimeoutIsAnswered504) {
  fake_.hang = true;
  start_hbone();
  HboneClient client;
  client.start(client.tcp_to(port()));
  auto s = client.connect("slow.test:80");
  auto begin = std::chrono::steady_clock::now();
  bool done = client.run([&]() -> asio::awaitable<void> {
    co_await wait_readable(*s);
    EXPECT_EQ(s->status(), 504);
    EXPECT_EQ(HboneClient::proxy_status(*s), "ugate; error=connection_timeout");
  });
  ASSERT_TRUE(done);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1500ms);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kConnectTimeout), 1u);
}

TEST_F(DoorHbone, AuthorityWithoutAPortIsABadRequest) {
  start_hbone();
  HboneClient client;
  client.start(client.tcp_to(port()));
  auto s = client.connect("no-port.test");
  bool done = client.run([&]() -> asio::awaitable<void> {
    co_await wait_readable(*s);
    EXPECT_EQ(s->status(), 400);
    EXPECT_EQ(HboneClient::proxy_status(*s), "ugate; error=http_request_error");
  });
  ASSERT_TRUE(done);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kBadRequest), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

// A request that is not a CONNECT (which ugate's own client never sends):
// raw frames, HPACK from the static table.
TEST_F(DoorHbone, RequestThatIsNotAConnectIs405) {
  start_hbone();
  int c = connect_client();
  const std::string get = std::string("\x82\x86\x84\x41\x06", 5) + "a.test";  // GET http / a.test
  send_all(c, std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + frame(4, 0, 0, "") +
                  frame(1, /*END_STREAM|END_HEADERS*/ 0x5, 1, get));
  std::string headers = response_headers(c, 1);
  EXPECT_NE(headers.find(":status: 405\n"), std::string::npos) << headers;
  EXPECT_NE(headers.find("proxy-status: ugate; error=http_request_error\n"), std::string::npos) << headers;
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kBadRequest), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorHbone, MaxStreamsRefusesFurtherStreamsWith503) {
  config_.max_streams = 1;
  upstream_listener();
  start_hbone();
  HboneClient client;
  client.start(client.tcp_to(port()));
  auto first = client.connect("a.test:1");
  std::unique_ptr<h2::H2Stream> second;
  bool done = client.run([&]() -> asio::awaitable<void> {
    int up_fd = co_await client.accept_on(upstream_listener_);
    EXPECT_GE(up_fd, 0);
    if (up_fd < 0) co_return;
    auto up = client.adopt(up_fd);
    co_await wait_readable(*first);
    EXPECT_EQ(first->status(), 200);
    second = client.connect("b.test:2");  // the first is open: the listener is full
    co_await wait_readable(*second);
    EXPECT_EQ(second->status(), 503);
    EXPECT_EQ(HboneClient::proxy_status(*second), "ugate; error=connection_limit_reached");
    co_await end_tunnel(*first, *up);
  });
  ASSERT_TRUE(done);
  ASSERT_TRUE(wait_closed(2)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kOverload), 1u);
  EXPECT_EQ(fake_.calls, 1);
}

TEST_F(DoorHbone, NotHttp2EndsTheConnectionWithoutADial) {
  start_hbone();
  int c = connect_client();
  send_all(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
  read_all(c);  // the server says GOAWAY (or nothing) and closes
  EXPECT_EQ(fake_.calls, 0);
  EXPECT_EQ(slot_->stats.closed.get(), 0u) << "no stream was opened";
}

}  // namespace
}  // namespace ugate

// The auto door on a real worker (with its Mesh, for HBONE) and a fake
// connector: it peeks the first bytes and hands the connection to the door
// that speaks them (SOCKS5, the HTTP proxy, HBONE, TLS by SNI), which reads
// them as if it had accepted it, so nothing is lost; what it recognised is in
// the stream's metadata. Unknown bytes and a silent client are refused
// without a dial, and HBONE is refused on a listener with users.
#include "door_test.h"
#include "hbone_client.h"
#include "tls_test_util.h"

namespace ugate {
namespace {

using namespace test;

class DoorAuto : public DoorTest {
 protected:
  void start_auto() { start(Protocol::kAuto, nullptr, /*mesh=*/true); }
};

std::string socks5_connect(std::string_view host, uint16_t port) {
  std::string s{5, 1, 0, 3, static_cast<char>(host.size())};
  s += host;
  s += static_cast<char>(port >> 8);
  s += static_cast<char>(port & 0xff);
  return s;
}

TEST_F(DoorAuto, Socks5IsServedAsSocks5) {
  upstream_listener();
  start_auto();
  int c = connect_client();
  send_all(c, std::string{5, 1, 0});
  EXPECT_EQ(read_n(c, 2), (std::string{5, 0}));
  send_all(c, socks5_connect("socks.test", 1080));
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  std::string reply = read_n(c, 10);
  ASSERT_EQ(reply.size(), 10u);
  EXPECT_EQ(reply[1], 0) << "succeeded";
  send_all(c, "data");
  EXPECT_EQ(read_n(up, 4), "data");
  ConnectCall call = fake_.last();
  EXPECT_EQ(call.destination, "socks.test:1080");
  EXPECT_EQ(call.protocol, "auto");
  EXPECT_EQ(call.sniffed, "socks5");
}

TEST_F(DoorAuto, HttpConnectIsServedByTheHttpProxy) {
  upstream_listener();
  start_auto();
  int c = connect_client();
  send_all(c, "CONNECT web.test:443 HTTP/1.1\r\nHost: web.test:443\r\n\r\n");
  ASSERT_GE(accept_upstream(), 0);
  EXPECT_EQ(read_until(c, "\r\n\r\n"), "HTTP/1.1 200 Connection established\r\n\r\n");
  ConnectCall call = fake_.last();
  EXPECT_EQ(call.destination, "web.test:443");
  EXPECT_EQ(call.sniffed, "http1");
}

TEST_F(DoorAuto, TlsIsRoutedBySniWithTheWholeHelloPassedOn) {
  config_.router = Router({Route{{"tls.test", 0}, {"tls-backend.test", 443}, nullptr}});
  upstream_listener();
  start_auto();
  const std::string hello = client_hello("tls.test", {"h2"});
  int c = connect_client();
  send_all(c, hello);
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  EXPECT_TRUE(read_n(up, hello.size()) == hello);
  ConnectCall call = fake_.last();
  EXPECT_EQ(call.destination, "tls-backend.test:443");
  EXPECT_EQ(call.sni, "tls.test");
  EXPECT_EQ(call.sniffed, "tls");
}

TEST_F(DoorAuto, H2cIsServedAsHbone) {
  upstream_listener();
  start_auto();
  HboneClient client;
  client.start(client.tcp_to(port()));
  auto s = client.connect("inner.test:7000");
  bool done = client.run([&]() -> asio::awaitable<void> {
    int up_fd = co_await client.accept_on(upstream_listener_);
    EXPECT_GE(up_fd, 0);
    if (up_fd < 0) co_return;
    auto up = client.adopt(up_fd);
    co_await wait_readable(*s);
    EXPECT_EQ(s->status(), 200);
    s->close();
    up->close();
  });
  ASSERT_TRUE(done);
  ConnectCall call = fake_.last();
  EXPECT_EQ(call.destination, "inner.test:7000");
  EXPECT_EQ(call.sniffed, "h2c");
  EXPECT_EQ(call.protocol, "auto");
}

TEST_F(DoorAuto, AllowListAppliesToEveryProtocol) {
  config_.allow = Router({Route{{"ok.test", 0}, {}, nullptr}});
  start_auto();
  // HTTP proxy.
  int c = connect_client();
  send_all(c, "CONNECT evil.test:443 HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(read_all(c).starts_with("HTTP/1.1 403 Forbidden\r\n"));
  // HBONE.
  HboneClient client;
  client.start(client.tcp_to(port()));
  auto s = client.connect("evil.test:443");
  bool done = client.run([&]() -> asio::awaitable<void> {
    co_await wait_readable(*s);
    EXPECT_EQ(s->status(), 403);
    EXPECT_EQ(HboneClient::proxy_status(*s), "ugate; error=http_request_denied");
  });
  ASSERT_TRUE(done);
  ASSERT_TRUE(wait_closed(2)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kNotAllowed), 2u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorAuto, HboneIsRefusedOnAListenerWithUsers) {
  config_.users = {{"alice", "secret"}};
  start_auto();
  HboneClient client;
  client.start(client.tcp_to(port()));
  auto s = client.connect("inner.test:7000");
  bool done = client.run([&]() -> asio::awaitable<void> {
    error_code ec;
    co_await read_to_end(*s, ec);  // the connection is cut
    EXPECT_EQ(s->status(), 0);
  });
  ASSERT_TRUE(done);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kAuthFailed), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorAuto, UnknownBytesAreSniffFailed) {
  start_auto();
  int c = connect_client();
  send_all(c, std::string("\x00\x01\x02\x03garbage garbage", 19));
  int err = 0;
  EXPECT_EQ(read_end(c, err), -1);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kSniffFailed), 1u);
  EXPECT_EQ(fake_.calls, 0);
  EXPECT_TRUE(wait_idle());
}

TEST_F(DoorAuto, SilentClientHitsSniffTimeout) {
  start_auto();
  auto begin = std::chrono::steady_clock::now();
  int c = connect_client();
  send_all(c, "CONN");  // could still become HTTP: the door waits for more
  int err = 0;
  EXPECT_EQ(read_end(c, err), -1);
  EXPECT_GE(std::chrono::steady_clock::now() - begin, config_.sniff_timeout - Worker::kTick);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1s);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kSniffTimeout), 1u);
  EXPECT_EQ(fake_.calls, 0);
  EXPECT_TRUE(wait_idle()) << "the sniffing connection left the active count";
}

}  // namespace
}  // namespace ugate

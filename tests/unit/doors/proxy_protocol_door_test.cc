// accept_proxy_protocol in front of a door, on a real worker and loopback
// sockets, with a fake connector: a trusted source's PROXY header (v1, v2)
// names the stream's source and original destination and is not passed on;
// a trusted source without a whole, valid header is refused with a reason;
// an untrusted source's bytes are the door's, header or not.
#include "codec/proxy_protocol.h"
#include "door_test.h"

namespace ugate {
namespace {

using namespace test;

std::string ep(const TcpEndpoint& e) { return e.address().to_string() + " " + std::to_string(e.port()); }

class DoorProxyProtocol : public DoorTest {
 protected:
  void trust(const char* cidr) { config_.accept_proxy_protocol_from.push_back(*parse_cidr(cidr)); }
  void start_tcp() {
    config_.router = Router({Route{{}, {"backend.test", 9000}, nullptr}});
    upstream_listener();
    start(Protocol::kTcp, proxy_protocol_door);
  }
  // A refused connection: the client is reset, nothing is dialled.
  void expect_refused(int c, CloseReason why) {
    int err = 0;
    EXPECT_EQ(read_end(c, err), -1);
    EXPECT_EQ(err, ECONNRESET);
    ASSERT_TRUE(wait_closed(1)) << reasons();
    EXPECT_EQ(closed_by(why), 1u) << reasons();
    EXPECT_EQ(fake_.calls, 0);
    EXPECT_TRUE(wait_idle());
  }
};

TEST_F(DoorProxyProtocol, AV1HeaderNamesTheClientAndIsNotPassedOn) {
  trust("127.0.0.0/8");
  start_tcp();
  int c = connect_client();
  send_all(c, "PROXY TCP4 192.0.2.10 198.51.100.1 40000 443\r\nhello");
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  EXPECT_EQ(read_n(up, 5), "hello") << "the header is the balancer's, not the upstream's";
  ASSERT_TRUE(fake_.wait_calls(1));
  EXPECT_EQ(ep(fake_.last().source), "192.0.2.10 40000");
  EXPECT_EQ(ep(fake_.last().original_dst), "198.51.100.1 443");
  exchange_then_close(c, up, "more", "answer");
  EXPECT_EQ(slot_->stats.bytes_up.get(), 9u) << "only the client's own bytes are counted";
  EXPECT_EQ(slot_->stats.accepted.get(), 1u);
  EXPECT_TRUE(wait_idle());
}

TEST_F(DoorProxyProtocol, AV2HeaderInPiecesAndALocalOne) {
  trust("127.0.0.1");
  start_tcp();
  namespace ip = boost::asio::ip;
  std::string header = proxy_v2_header(TcpEndpoint(ip::make_address("2001:db8::5"), 5555),
                                       TcpEndpoint(ip::make_address("2001:db8::1"), 80), "");
  int c = connect_client();
  send_all(c, header.substr(0, 10));  // the balancer's segments may split it
  std::this_thread::sleep_for(50ms);
  send_all(c, header.substr(10) + "x");
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  EXPECT_EQ(read_n(up, 1), "x");
  ASSERT_TRUE(fake_.wait_calls(1));
  EXPECT_EQ(ep(fake_.last().source), "2001:db8::5 5555");
  EXPECT_EQ(ep(fake_.last().original_dst), "2001:db8::1 80");
  ::shutdown(up, SHUT_RDWR);

  // LOCAL (a health check of the balancer's own): the connection's own addresses stand.
  int local = connect_client();
  std::string check("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16);
  send_all(local, check + "y");
  up = accept_upstream();
  ASSERT_GE(up, 0);
  EXPECT_EQ(read_n(up, 1), "y");
  ASSERT_TRUE(fake_.wait_calls(2));
  EXPECT_EQ(fake_.last().source.address().to_string(), "127.0.0.1");
  EXPECT_EQ(fake_.last().original_dst.port(), 0);
}

TEST_F(DoorProxyProtocol, ATrustedSourceWithoutAHeaderIsRefused) {
  trust("127.0.0.1");
  start_tcp();
  int c = connect_client();
  send_all(c, "GET / HTTP/1.1\r\n\r\n");
  expect_refused(c, CloseReason::kSniffFailed);
}

TEST_F(DoorProxyProtocol, AMalformedHeaderIsABadRequest) {
  trust("127.0.0.1");
  start_tcp();
  int c = connect_client();
  send_all(c, "PROXY TCP4 192.0.2.010 198.51.100.1 40000 443\r\nhello");
  expect_refused(c, CloseReason::kBadRequest);
}

TEST_F(DoorProxyProtocol, AHeaderCutByTheClientIsABadRequest) {
  trust("127.0.0.1");
  start_tcp();
  int c = connect_client();
  send_all(c, "PROXY TCP4 192.0.2.10 ");
  ::shutdown(c, SHUT_WR);
  expect_refused(c, CloseReason::kBadRequest);
}

TEST_F(DoorProxyProtocol, AHeaderThatDoesNotComeInTimeIsCut) {
  trust("127.0.0.1");
  start_tcp();
  auto begin = std::chrono::steady_clock::now();
  int c = connect_client();
  send_all(c, "PROXY TCP4 192.0.2.10 ");
  expect_refused(c, CloseReason::kSniffTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1500ms) << "sniff_timeout is 300 ms here";
}

TEST_F(DoorProxyProtocol, AnUntrustedSourcesHeaderIsJustBytes) {
  trust("10.0.0.0/8");
  start_tcp();
  int c = connect_client();
  const std::string spoof = "PROXY TCP4 192.0.2.10 198.51.100.1 40000 443\r\n";
  send_all(c, spoof);
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  EXPECT_EQ(read_n(up, spoof.size()), spoof) << "the tcp door forwards them as they came";
  ASSERT_TRUE(fake_.wait_calls(1));
  EXPECT_EQ(fake_.last().source.address().to_string(), "127.0.0.1") << "the socket's peer, not the header's";
  EXPECT_EQ(fake_.last().original_dst.port(), 0);
}

TEST_F(DoorProxyProtocol, TheDoorBehindReadsItsOwnProtocolAfterTheHeader) {
  trust("127.0.0.1");
  upstream_listener();
  start(Protocol::kSocks5, proxy_protocol_door);
  int c = connect_client();
  std::string greeting{5, 1, 0};
  send_all(c, "PROXY TCP4 192.0.2.10 198.51.100.1 40000 1080\r\n" + greeting);
  EXPECT_EQ(read_n(c, 2), std::string("\x05\x00", 2));
  send_all(c, std::string("\x05\x01\x00\x03\x07" "db.test" "\x00\x50", 14));
  std::string reply = read_n(c, 10);
  ASSERT_EQ(reply.size(), 10u);
  EXPECT_EQ(reply[1], 0) << "succeeded";
  ASSERT_TRUE(fake_.wait_calls(1));
  EXPECT_EQ(fake_.last().destination, "db.test:80");
  EXPECT_EQ(ep(fake_.last().source), "192.0.2.10 40000");
  EXPECT_EQ(fake_.last().protocol, "socks5");
}

}  // namespace
}  // namespace ugate

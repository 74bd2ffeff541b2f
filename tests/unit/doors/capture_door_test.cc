// The capture door without iptables. Under TPROXY (`tproxy: true`) a
// connection's original destination is its local address, so a connection
// accepted on a loopback port of the test and handed to the door stands for
// one that TPROXY delivered for that address: the door dials it (or the route
// that matches it). A connection to the capture port itself is a loop; and
// without TPROXY a connection that iptables did not redirect is refused
// (no_original_dst where conntrack does not know it, capture_loop where it
// reports the listener itself). What REDIRECT's SO_ORIGINAL_DST says for a
// real NAT rule needs iptables: the netns integration tests cover it.
#include "door_test.h"

namespace ugate {
namespace {

using namespace test;

class DoorCapture : public DoorTest {
 protected:
  // A connection to a loopback port of the test, accepted there: its local
  // address is what TPROXY would give as the original destination.
  struct Captured {
    int client = -1;
    int accepted = -1;
    uint16_t original_port = 0;
    TcpEndpoint peer;
  };
  Captured captured_connection() {
    Captured out;
    int listener = track(loopback_listener(1, out.original_port));
    out.client = connect_client_to(out.original_port);
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    out.accepted = ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    out.peer = TcpEndpoint(asio::ip::make_address("127.0.0.1"), ntohs(reinterpret_cast<sockaddr_in&>(peer).sin_port));
    return out;
  }
  int connect_client_to(uint16_t p) {
    int fd = track(loopback_connect(p));
    set_receive_timeout(fd);
    return fd;
  }
};

TEST_F(DoorCapture, TproxyConnectionGoesToItsOriginalDestination) {
  config_.tproxy = true;
  upstream_listener();
  start(Protocol::kCaptureOut);
  Captured c = captured_connection();
  run_door(capture_door, c.accepted, c.peer);
  send_all(c.client, "captured bytes");
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  EXPECT_EQ(read_n(up, 14), "captured bytes");
  send_all(up, "answer");
  EXPECT_EQ(read_n(c.client, 6), "answer");
  ::shutdown(c.client, SHUT_WR);
  ::shutdown(up, SHUT_WR);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kDone), 1u);
  ConnectCall call = fake_.last();
  EXPECT_EQ(call.destination, "127.0.0.1:" + std::to_string(c.original_port));
  EXPECT_EQ(call.protocol, "capture-out");
  EXPECT_EQ(call.source.port(), c.peer.port());
}

TEST_F(DoorCapture, RouteMatchingTheOriginalDestinationWins) {
  config_.tproxy = true;
  upstream_listener();
  start(Protocol::kCaptureIn);
  Captured c = captured_connection();
  // The route names the original destination's port (set now that it is known; no stream runs yet).
  config_.router = Router({Route{{"127.0.0.1", c.original_port}, {"app.test", 8080}, nullptr}});
  run_door(capture_door, c.accepted, c.peer);
  ASSERT_GE(accept_upstream(), 0);
  EXPECT_EQ(fake_.last().destination, "app.test:8080");
  EXPECT_EQ(fake_.last().protocol, "capture-in");
}

TEST_F(DoorCapture, ConnectionToTheCapturePortItselfIsALoop) {
  config_.tproxy = true;
  start(Protocol::kCaptureOut);
  int c = connect_client();
  int err = 0;
  EXPECT_EQ(read_end(c, err), -1);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kCaptureLoop), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorCapture, ConnectionIptablesDidNotRedirectIsRefused) {
  start(Protocol::kCaptureOut);  // REDIRECT: SO_ORIGINAL_DST
  int c = connect_client();
  int err = 0;
  EXPECT_EQ(read_end(c, err), -1);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  // Without conntrack there is no original destination; with it, it is the capture port: a loop.
  EXPECT_EQ(closed_by(CloseReason::kNoOriginalDst) + closed_by(CloseReason::kCaptureLoop), 1u) << reasons();
  EXPECT_EQ(fake_.calls, 0);
}

}  // namespace
}  // namespace ugate

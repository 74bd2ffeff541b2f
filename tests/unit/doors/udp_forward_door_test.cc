// The udp listener (a per-client NAT table, src/doors/udp_forward.cc) on a
// real worker and loopback datagram sockets: the first datagram of a client
// opens a flow to the route, replies come back from the listener's address,
// each client has its flow, max_streams bounds the table, an idle flow ends,
// and a datagram without a route is dropped and counted. Flows do not dial
// through the worker's Connector (UDP through the mesh is not there yet), so
// no fake connector is involved: the upstream is a real loopback socket.
#include <arpa/inet.h>

#include "door_test.h"

namespace ugate {
namespace {

using namespace test;

int udp_socket_on_loopback(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a = loopback_address(0);
  socklen_t len = sizeof a;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), len), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  set_receive_timeout(fd);
  return fd;
}

void send_to(int fd, uint16_t port, std::string_view data) {
  sockaddr_in to = loopback_address(port);
  ASSERT_EQ(::sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(data.size()));
}

// A datagram and the port it came from ("" when none came in time).
std::string receive(int fd, uint16_t* from_port = nullptr) {
  char buf[2048];
  sockaddr_in from{};
  socklen_t len = sizeof from;
  ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
  if (n < 0) return "";
  if (from_port) *from_port = ntohs(from.sin_port);
  return std::string(buf, static_cast<size_t>(n));
}

class DoorUdpForward : public DoorTest {
 protected:
  // The upstream: a datagram socket the route forwards to.
  void route_to_upstream() {
    upstream_ = track(udp_socket_on_loopback(upstream_port_));
    config_.router = Router({Route{{}, {"127.0.0.1", upstream_port_}, nullptr}});
  }
  bool wait_counter(const Counter& c, uint64_t n) {
    for (int i = 0; i < 300 && c.get() < n; ++i) std::this_thread::sleep_for(5ms);
    return c.get() == n;
  }
  uint64_t drops(UdpDrop d) const { return slot_->stats.udp_drops[static_cast<size_t>(d)].get(); }
  int upstream_ = -1;
  uint16_t upstream_port_ = 0;
};

TEST_F(DoorUdpForward, FlowForwardsBothWaysAndKeepsItsUpstreamSocket) {
  route_to_upstream();
  start_udp();
  uint16_t client_port = 0;
  int client = track(udp_socket_on_loopback(client_port));
  send_to(client, port(), "query 1");
  uint16_t flow_port = 0;
  EXPECT_EQ(receive(upstream_, &flow_port), "query 1");
  EXPECT_NE(flow_port, client_port) << "the flow has its own upstream socket";
  send_to(upstream_, flow_port, "answer 1");
  uint16_t answered_from = 0;
  EXPECT_EQ(receive(client, &answered_from), "answer 1");
  EXPECT_EQ(answered_from, port()) << "replies come from the listener's address";

  send_to(client, port(), "query 2");  // the same client: the same flow
  uint16_t again = 0;
  EXPECT_EQ(receive(upstream_, &again), "query 2");
  EXPECT_EQ(again, flow_port);

  uint16_t other_port = 0;
  int other = track(udp_socket_on_loopback(other_port));
  send_to(other, port(), "from another");
  uint16_t other_flow = 0;
  EXPECT_EQ(receive(upstream_, &other_flow), "from another");
  EXPECT_NE(other_flow, flow_port) << "each client has its flow";

  EXPECT_TRUE(wait_counter(slot_->stats.packets_up, 3));
  EXPECT_EQ(slot_->stats.packets_down.get(), 1u);
  EXPECT_EQ(slot_->stats.bytes_up.get(), 7u + 7u + 12u);
  EXPECT_EQ(slot_->stats.bytes_down.get(), 8u);
  EXPECT_EQ(slot_->stats.accepted.get(), 2u) << "two flows";
  EXPECT_EQ(slot_->stats.active.get(), 2u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorUdpForward, IdleFlowEnds) {
  config_.idle_timeout = Duration{200};
  route_to_upstream();
  start_udp();
  uint16_t client_port = 0;
  int client = track(udp_socket_on_loopback(client_port));
  send_to(client, port(), "once");
  EXPECT_EQ(receive(upstream_), "once");
  auto begin = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1s);
  EXPECT_EQ(closed_by(CloseReason::kIdleTimeout), 1u);
  EXPECT_TRUE(wait_idle());
}

TEST_F(DoorUdpForward, MaxStreamsBoundsTheTable) {
  config_.max_streams = 1;
  route_to_upstream();
  start_udp();
  uint16_t p1 = 0, p2 = 0;
  int first = track(udp_socket_on_loopback(p1));
  int second = track(udp_socket_on_loopback(p2));
  send_to(first, port(), "in");
  EXPECT_EQ(receive(upstream_), "in");
  send_to(second, port(), "dropped");
  EXPECT_TRUE(wait_counter(slot_->stats.udp_drops[static_cast<size_t>(UdpDrop::kFlowLimit)], 1));
  send_to(first, port(), "still in");
  EXPECT_EQ(receive(upstream_), "still in") << "the open flow goes on";
  EXPECT_EQ(slot_->stats.accepted.get(), 1u);
}

TEST_F(DoorUdpForward, DatagramWithoutARouteIsDropped) {
  start_udp();
  uint16_t client_port = 0;
  int client = track(udp_socket_on_loopback(client_port));
  send_to(client, port(), "nowhere");
  EXPECT_TRUE(wait_counter(slot_->stats.udp_drops[static_cast<size_t>(UdpDrop::kNoRoute)], 1));
  EXPECT_EQ(slot_->stats.accepted.get(), 0u);
  EXPECT_EQ(drops(UdpDrop::kNoRoute), 1u);
}

}  // namespace
}  // namespace ugate

// The socks5 door (RFC 1928, RFC 1929) on a real worker and loopback sockets,
// with a fake connector: what it dials, the reply code for each outcome, the
// replay of bytes sent with the request, users and the allow list, refusals of
// bad input (nothing dialled), and UDP ASSOCIATE's relay.
#include <arpa/inet.h>

#include <initializer_list>

#include "door_test.h"
#include "policy/listener_auth.h"

namespace ugate {
namespace {

using namespace test;

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

const std::string kNoAuthGreeting = bytes({5, 1, 0});

std::string port_bytes(uint16_t port) { return bytes({port >> 8, port & 0xff}); }

// CONNECT (or another command) to a domain name.
std::string request_to(std::string_view host, uint16_t port, int command = 1) {
  return bytes({5, command, 0, 3, static_cast<int>(host.size())}) + std::string(host) + port_bytes(port);
}

std::string request_to_ipv4(std::string_view ip, uint16_t port, int command = 1) {
  in_addr a{};
  ::inet_pton(AF_INET, std::string(ip).c_str(), &a);
  return bytes({5, command, 0, 1}) + std::string(reinterpret_cast<const char*>(&a), 4) + port_bytes(port);
}

// VER REP RSV ATYP(1) BND.ADDR(4) BND.PORT(2) for an IPv4 bound address.
struct Socks5Reply {
  int code = -1;
  std::string address;
  uint16_t port = 0;
};
Socks5Reply read_reply(int fd) {
  std::string r = read_n(fd, 10);
  Socks5Reply out;
  if (r.size() != 10 || r[0] != 5 || r[3] != 1) return out;
  out.code = static_cast<uint8_t>(r[1]);
  char text[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, r.data() + 4, text, sizeof text);
  out.address = text;
  out.port = static_cast<uint16_t>(static_cast<uint8_t>(r[8]) << 8 | static_cast<uint8_t>(r[9]));
  return out;
}

uint16_t local_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

uint16_t peer_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

class DoorSocks5 : public DoorTest {
 protected:
  // Greeting (no auth) and its answer.
  int greeted_client() {
    int c = connect_client();
    send_all(c, kNoAuthGreeting);
    EXPECT_EQ(read_n(c, 2), bytes({5, 0}));
    return c;
  }
  // Set before start(); TearDown ends the worker before these go.
  AuthzPolicy policy_;
  ListenerAuth auth_store_;
};

TEST_F(DoorSocks5, ConnectDialsTheTargetRepliesAndReplaysEarlyBytes) {
  upstream_listener();
  start(Protocol::kSocks5);
  int c = greeted_client();
  // The request and the first payload bytes in one segment: they must reach the upstream first.
  send_all(c, request_to("example.test", 443) + "early|");
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  Socks5Reply r = read_reply(c);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.address, "127.0.0.1");
  EXPECT_EQ(r.port, peer_port(up)) << "BND.PORT is our end of the upstream connection";
  EXPECT_EQ(read_n(up, 6), "early|");
  exchange_then_close(c, up, "ping", "pong");
  EXPECT_EQ(slot_->stats.accepted.get(), 1u);
  EXPECT_EQ(slot_->stats.bytes_up.get(), 10u) << "the replay counts as the client's";
  EXPECT_EQ(slot_->stats.bytes_down.get(), 4u);

  ASSERT_EQ(fake_.calls, 1);
  ConnectCall call = fake_.last();
  EXPECT_EQ(call.destination, "example.test:443");
  EXPECT_EQ(call.protocol, "socks5");
  EXPECT_EQ(call.listener, "door-test");
  EXPECT_EQ(call.source.port(), local_port(c));
  EXPECT_EQ(call.user, "");
}

TEST_F(DoorSocks5, Ipv4TargetIsDialledAsGiven) {
  upstream_listener();
  start(Protocol::kSocks5);
  int c = greeted_client();
  send_all(c, request_to_ipv4("192.0.2.7", 8080));
  ASSERT_GE(accept_upstream(), 0);
  EXPECT_EQ(read_reply(c).code, 0);
  EXPECT_EQ(fake_.last().destination, "192.0.2.7:8080");
}

// Each way a dial fails has its RFC 1928 reply code, then an orderly close.
TEST_F(DoorSocks5, RefusedDialsAnswerTheirReplyCode) {
  start(Protocol::kSocks5);
  const std::pair<CloseReason, int> cases[] = {
      {CloseReason::kConnectRefused, 5}, {CloseReason::kConnectTimeout, 6}, {CloseReason::kResolveFailed, 4},
      {CloseReason::kUnreachable, 4},    {CloseReason::kNotAllowed, 2},     {CloseReason::kNodeUnavailable, 1},
  };
  uint64_t n = 0;
  for (auto [reason, code] : cases) {
    fake_.refusal = reason;
    int c = greeted_client();
    send_all(c, request_to("target.test", 80));
    EXPECT_EQ(read_reply(c).code, code) << to_string(reason);
    int err = 0;
    EXPECT_EQ(read_end(c, err), 0) << to_string(reason) << ": FIN after the reply, not a reset";
    ASSERT_TRUE(wait_closed(++n)) << reasons();
    EXPECT_EQ(closed_by(reason), 1u) << to_string(reason);
  }
  EXPECT_EQ(fake_.calls, static_cast<int>(n));
}

TEST_F(DoorSocks5, DialPastConnectTimeoutRepliesTtlExpired) {
  fake_.hang = true;
  start(Protocol::kSocks5);
  int c = greeted_client();
  auto begin = std::chrono::steady_clock::now();
  send_all(c, request_to("slow.test", 80));
  EXPECT_EQ(read_reply(c).code, 6);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1500ms);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kConnectTimeout), 1u);
}

TEST_F(DoorSocks5, UsersMustAuthenticate) {
  config_.users = {{"alice", "secret"}};
  upstream_listener();
  start(Protocol::kSocks5);

  // Offering only "no authentication": no acceptable method, then FIN.
  int c = connect_client();
  send_all(c, kNoAuthGreeting);
  EXPECT_EQ(read_n(c, 2), bytes({5, 0xff}));
  int err = 0;
  EXPECT_EQ(read_end(c, err), 0);
  ASSERT_TRUE(wait_closed(1)) << reasons();

  // A wrong password: RFC 1929 failure, then FIN.
  c = connect_client();
  send_all(c, bytes({5, 1, 2}));
  EXPECT_EQ(read_n(c, 2), bytes({5, 2}));
  send_all(c, bytes({1, 5}) + "alice" + bytes({5}) + "wrong");
  EXPECT_EQ(read_n(c, 2), bytes({1, 1}));
  EXPECT_EQ(read_end(c, err), 0);
  ASSERT_TRUE(wait_closed(2)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kAuthFailed), 2u);
  EXPECT_EQ(fake_.calls, 0) << "nothing dialled for a client that did not authenticate";

  // The right one: the user is in the stream's metadata when it dials.
  c = connect_client();
  send_all(c, bytes({5, 2, 0, 2}));
  EXPECT_EQ(read_n(c, 2), bytes({5, 2}));
  send_all(c, bytes({1, 5}) + "alice" + bytes({6}) + "secret");
  EXPECT_EQ(read_n(c, 2), bytes({1, 0}));
  send_all(c, request_to("example.test", 80));
  ASSERT_GE(accept_upstream(), 0);
  EXPECT_EQ(read_reply(c).code, 0);
  ASSERT_EQ(fake_.calls, 1);
  EXPECT_EQ(fake_.last().user, "alice");
}

TEST_F(DoorSocks5, AllowListRefusesOtherTargetsWithoutDialling) {
  config_.allow = Router({Route{{"*.ok.test", 0}, {}, nullptr}});
  upstream_listener();
  start(Protocol::kSocks5);
  int c = greeted_client();
  send_all(c, request_to("evil.test", 80));
  EXPECT_EQ(read_reply(c).code, 2);
  int err = 0;
  EXPECT_EQ(read_end(c, err), 0);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kNotAllowed), 1u);
  EXPECT_EQ(fake_.calls, 0);

  c = greeted_client();
  send_all(c, request_to("a.ok.test", 80));
  ASSERT_GE(accept_upstream(), 0);
  EXPECT_EQ(read_reply(c).code, 0);
  EXPECT_EQ(fake_.last().destination, "a.ok.test:80");
}

// Clients name the destination: the dial carries the admin port as forbidden
// (the connector refuses it when a name resolves there), unless reach_admin.
TEST_F(DoorSocks5, DialsAreGuardedAgainstTheAdminPort) {
  admin_ = TcpEndpoint(asio::ip::make_address("127.0.0.1"), 9);
  upstream_listener();
  start(Protocol::kSocks5);
  int c = greeted_client();
  send_all(c, request_to("example.test", 80));
  ASSERT_GE(accept_upstream(), 0);
  EXPECT_EQ(read_reply(c).code, 0);
  EXPECT_TRUE(fake_.last().guarded);
}

TEST_F(DoorSocks5, ReachAdminLiftsTheGuard) {
  admin_ = TcpEndpoint(asio::ip::make_address("127.0.0.1"), 9);
  config_.reach_admin = true;
  upstream_listener();
  start(Protocol::kSocks5);
  int c = greeted_client();
  send_all(c, request_to("example.test", 80));
  ASSERT_GE(accept_upstream(), 0);
  EXPECT_EQ(read_reply(c).code, 0);
  EXPECT_FALSE(fake_.last().guarded);
}

// Authorization decides before the dial: a denied destination is answered
// "not allowed" and never dialled; each decision is counted by rule.
TEST_F(DoorSocks5, AuthorizationDeniesBeforeTheDial) {
  AuthzRule deny;
  deny.name = "no-secrets";
  deny.allow = false;
  deny.host = {"secret.test"};
  policy_ = AuthzPolicy({deny}, AuthzPolicy::Default::kAllow);
  auth_store_.authz = &policy_;
  auth_ = &auth_store_;
  upstream_listener();
  start(Protocol::kSocks5);
  int c = greeted_client();
  send_all(c, request_to("secret.test", 443));
  EXPECT_EQ(read_reply(c).code, 2);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kDenied), 1u);
  EXPECT_EQ(fake_.calls, 0);

  c = greeted_client();
  send_all(c, request_to("public.test", 443));
  ASSERT_GE(accept_upstream(), 0);
  EXPECT_EQ(read_reply(c).code, 0);
  EXPECT_EQ(fake_.calls, 1);
  EXPECT_EQ(group_->decided(0, false), 1u) << "the rule denied one";
  EXPECT_EQ(group_->decided(-1, true), 1u) << "the default allowed one";
}

TEST_F(DoorSocks5, UnsupportedCommandIsAnsweredAndNothingDialled) {
  start(Protocol::kSocks5);
  int c = greeted_client();
  send_all(c, request_to("example.test", 80, /*BIND*/ 2));
  EXPECT_EQ(read_reply(c).code, 7);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kBadRequest), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorSocks5, GarbageIsResetWithoutAnAnswer) {
  start(Protocol::kSocks5);
  int c = connect_client();
  send_all(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ssize_t end = 1;
  int err = 0;
  EXPECT_EQ(read_all(c, &end, &err), "");
  EXPECT_EQ(end, -1);
  EXPECT_EQ(err, ECONNRESET);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kSniffFailed), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorSocks5, TruncatedRequestEndsWithoutADial) {
  start(Protocol::kSocks5);
  int c = greeted_client();
  send_all(c, request_to("example.test", 80).substr(0, 7));
  ::shutdown(c, SHUT_WR);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kDownstreamReset), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorSocks5, SlowClientHitsSniffTimeout) {
  start(Protocol::kSocks5);
  int c = connect_client();
  auto begin = std::chrono::steady_clock::now();
  send_all(c, bytes({5}));  // half a greeting, then silence
  ssize_t end = 1;
  int err = 0;
  read_all(c, &end, &err);
  auto waited = std::chrono::steady_clock::now() - begin;
  EXPECT_EQ(end, -1) << "cut with a reset";
  EXPECT_GE(waited, config_.sniff_timeout - Worker::kTick);
  EXPECT_LT(waited, 1s);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kSniffTimeout), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

// UDP ASSOCIATE: the reply names the relay's address; datagrams with the
// RFC's header go to their target and replies come back behind one. The
// relay does not dial through the connector (datagrams go out directly).
TEST_F(DoorSocks5, UdpAssociateRelaysDatagramsBothWays) {
  start(Protocol::kSocks5);
  int target = track(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in t = loopback_address(0);
  socklen_t tlen = sizeof t;
  ASSERT_EQ(::bind(target, reinterpret_cast<sockaddr*>(&t), tlen), 0);
  ::getsockname(target, reinterpret_cast<sockaddr*>(&t), &tlen);
  set_receive_timeout(target);
  uint16_t target_port = ntohs(t.sin_port);

  int c = greeted_client();
  send_all(c, request_to_ipv4("0.0.0.0", 0, /*UDP ASSOCIATE*/ 3));
  Socks5Reply r = read_reply(c);
  ASSERT_EQ(r.code, 0);
  EXPECT_EQ(r.address, "127.0.0.1");
  ASSERT_NE(r.port, 0);

  int u = track(::socket(AF_INET, SOCK_DGRAM, 0));
  set_receive_timeout(u);
  sockaddr_in relay = loopback_address(r.port);
  std::string header = bytes({0, 0, 0, 1, 127, 0, 0, 1}) + port_bytes(target_port);
  std::string datagram = header + "hello udp";
  ASSERT_EQ(::sendto(u, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&relay), sizeof relay),
            static_cast<ssize_t>(datagram.size()));
  char buf[512];
  sockaddr_in from{};
  socklen_t flen = sizeof from;
  ssize_t n = ::recvfrom(target, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
  ASSERT_EQ(std::string(buf, n > 0 ? n : 0), "hello udp");
  ASSERT_EQ(::sendto(target, "back", 4, 0, reinterpret_cast<sockaddr*>(&from), flen), 4);
  n = ::recv(u, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n), header + "back") << "the reply comes behind a header naming the target";

  ::shutdown(c, SHUT_WR);  // the association lives as long as its TCP connection
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kDone), 1u);
  EXPECT_EQ(slot_->stats.bytes_up.get(), 9u);
  EXPECT_EQ(slot_->stats.bytes_down.get(), 4u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorSocks5, UdpAssociateDropsDatagramsTheAllowListRefuses) {
  config_.allow = Router({Route{{"allowed.test", 0}, {}, nullptr}});
  start(Protocol::kSocks5);
  int target = track(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in t = loopback_address(0);
  socklen_t tlen = sizeof t;
  ASSERT_EQ(::bind(target, reinterpret_cast<sockaddr*>(&t), tlen), 0);
  ::getsockname(target, reinterpret_cast<sockaddr*>(&t), &tlen);

  int c = greeted_client();
  send_all(c, request_to_ipv4("0.0.0.0", 0, 3));
  Socks5Reply r = read_reply(c);
  ASSERT_EQ(r.code, 0);
  int u = track(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in relay = loopback_address(r.port);
  std::string datagram = bytes({0, 0, 0, 1, 127, 0, 0, 1}) + port_bytes(ntohs(t.sin_port)) + "refused";
  ASSERT_GT(::sendto(u, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&relay), sizeof relay), 0);
  for (int i = 0; i < 300 && slot_->stats.datagrams_dropped.get() == 0; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(slot_->stats.datagrams_dropped.get(), 1u);
  char buf[64];
  EXPECT_EQ(::recv(target, buf, sizeof buf, MSG_DONTWAIT), -1) << "nothing reached the target";
  EXPECT_EQ(slot_->stats.bytes_up.get(), 0u);
}

}  // namespace
}  // namespace ugate

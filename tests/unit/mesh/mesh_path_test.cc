#include "mesh/mesh_path.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/meta.h"
#include "mesh/tunnel_headers.h"

namespace ugate {
namespace {

const char* const kB = "spiffe://cluster.local/ns/default/sa/b";
const char* const kGw = "spiffe://cluster.local/ns/default/sa/gw";
const std::string kNodeId(52, 'a');

std::vector<NodeConfig> nodes() {
  return {
      {"gw", {"10.0.0.1", 15008}, kGw, ""},
      {"b", {"10.0.0.2", 15008}, kB, ""},
      {"c", {"192.168.1.3", 15008}, kNodeId, "gw"},  // only the gateway reaches it
  };
}

std::vector<std::string> names(const MeshPath& p) {
  std::vector<std::string> out;
  for (const NodeConfig& n : p.hops) out.push_back(n.name);
  return out;
}

TEST(NodeDirectory, ANodeNameMeansAPortOnItsLoopback) {
  auto list = nodes();
  NodeDirectory dir(list);
  auto p = dir.route({"b", 8080}, "", "cluster.local");
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p), std::vector<std::string>{"b"});
  EXPECT_EQ(p->authority.str(), "127.0.0.1:8080");
  // As a proxy client writes it, in any case.
  p = dir.route({"B.cluster.local", 22}, "", "cluster.local");
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p), std::vector<std::string>{"b"});
  EXPECT_EQ(p->authority.str(), "127.0.0.1:22");
}

TEST(NodeDirectory, OtherNamesAreDialledDirectlyUnlessTheListenerHasAVia) {
  auto list = nodes();
  NodeDirectory dir(list);
  EXPECT_FALSE(dir.route({"example.com", 443}, "", "cluster.local"));
  EXPECT_FALSE(dir.route({"b.other.domain", 443}, "", "cluster.local"));
  EXPECT_FALSE(dir.route({"x.b.cluster.local", 443}, "", "cluster.local"));
  EXPECT_FALSE(dir.route({"cluster.local", 443}, "", "cluster.local"));
  auto p = dir.route({"example.com", 443}, "gw", "cluster.local");
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p), std::vector<std::string>{"gw"});
  EXPECT_EQ(p->authority.str(), "example.com:443");  // the gateway dials it
  // A node keeps its own path even from a listener with a via.
  p = dir.route({"b", 80}, "gw", "cluster.local");
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p), std::vector<std::string>{"b"});
}

TEST(NodeDirectory, ANodeBehindAGatewayIsReachedInsideAConnectToIt) {
  auto list = nodes();
  NodeDirectory dir(list);
  auto p = dir.route({"c", 80}, "", "cluster.local");
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p), (std::vector<std::string>{"gw", "c"}));
  EXPECT_EQ(p->authority.str(), "127.0.0.1:80");
  MeshPath outer = p->prefix();
  EXPECT_EQ(names(outer), std::vector<std::string>{"gw"});
  EXPECT_EQ(outer.authority.str(), "192.168.1.3:15008") << "the gateway is asked for c's mesh port";
  // Keys name every connection of the chain: c's connection is not gw's.
  EXPECT_NE(p->connection_key(), outer.connection_key());
  EXPECT_EQ(outer.connection_key(), dir.route({"gw", 1}, "", "cluster.local")->connection_key());
  EXPECT_EQ(dir.route({"gw", 1}, "", "")->connection_key(), dir.route({"x.test", 2}, "gw", "")->connection_key());
}

TEST(TunnelHeaders, ForwardedNamesTheSourceAndTheTraceGoesOn) {
  StreamMeta m;
  m.source = TcpEndpoint(boost::asio::ip::make_address("10.1.2.3"), 4567);
  auto h = tunnel_headers(m);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0], (std::pair<std::string, std::string>{"forwarded", "for=\"10.1.2.3:4567\""}));
  EXPECT_EQ(h[1].first, "traceparent");
  EXPECT_THAT(h[1].second, ::testing::MatchesRegex("00-[0-9a-f]{32}-[0-9a-f]{16}-01"));
  EXPECT_NE(tunnel_headers(m)[1].second, h[1].second) << "a new trace per stream";

  // A stream that came through HBONE keeps its trace and adds to Forwarded.
  m.source = TcpEndpoint(boost::asio::ip::make_address("::1"), 80);
  m.headers = {{"forwarded", "for=\"192.0.2.1:1\""}, {"baggage", "k=v"}, {"traceparent", "00-abc-def-01"}};
  h = tunnel_headers(m);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].second, "for=\"192.0.2.1:1\", for=\"[::1]:80\"");
  EXPECT_EQ(h[1], (std::pair<std::string, std::string>{"baggage", "k=v"}));
  EXPECT_EQ(h[2], (std::pair<std::string, std::string>{"traceparent", "00-abc-def-01"}));
}

TEST(CloseReasonError, RoundTripsAndOtherErrorsMapToTheFallback) {
  EXPECT_EQ(close_reason_of(close_reason_error(CloseReason::kCertRejected), CloseReason::kDone), CloseReason::kCertRejected);
  EXPECT_EQ(close_reason_error(CloseReason::kConnectRefused).message(), "connect_refused");
  EXPECT_EQ(close_reason_of(boost::asio::error::connection_reset, CloseReason::kUpstreamReset), CloseReason::kUpstreamReset);
}

}  // namespace
}  // namespace ugate


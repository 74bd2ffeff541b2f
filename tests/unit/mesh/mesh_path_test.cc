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

// Surroundings for the resolver: neighbours and registrations the test sets.
struct Around final : MeshSurroundings {
  std::optional<NodeConfig> neighbour(std::string_view name, const NodeConfig* configured) const override {
    for (const auto& n : neighbours)
      if (configured ? n.id == configured->id : n.id == name || n.name == name) return n;
    return std::nullopt;
  }
  std::optional<ReverseRegistry::Entry> registered(std::string_view key) const override {
    for (const auto& [k, e] : registrations)
      if (k == key) return e;
    return std::nullopt;
  }
  std::vector<NodeConfig> neighbours;
  std::vector<std::pair<std::string, ReverseRegistry::Entry>> registrations;
};

// The path of a kPath target; nullopt for any other kind.
std::optional<MeshPath> route(const NodeDirectory& dir, const HostPort& to, std::string_view via, std::string_view td,
                              const MeshSurroundings& around = Around{}) {
  MeshTarget t = resolve_target(to, via, td, dir, around);
  if (t.kind != MeshTarget::Kind::kPath) return std::nullopt;
  return t.path;
}

TEST(ResolveTarget, ANodeNameMeansAPortOnItsLoopback) {
  auto list = nodes();
  NodeDirectory dir(list);
  auto p = route(dir, {"b", 8080}, "", "cluster.local");
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p), std::vector<std::string>{"b"});
  EXPECT_EQ(p->authority.str(), "127.0.0.1:8080");
  // As a proxy client writes it, in any case (the trust domain too).
  for (const char* host : {"B.cluster.local", "b.CLUSTER.Local"}) {
    p = route(dir, {host, 22}, "", "cluster.local");
    ASSERT_TRUE(p) << host;
    EXPECT_EQ(names(*p), std::vector<std::string>{"b"});
    EXPECT_EQ(p->authority.str(), "127.0.0.1:22");
  }
}

TEST(ResolveTarget, OtherNamesAreDialledDirectlyUnlessTheListenerHasAVia) {
  auto list = nodes();
  NodeDirectory dir(list);
  Around none;
  for (const char* host : {"example.com", "b.other.domain", "x.b.cluster.local", "cluster.local"})
    EXPECT_EQ(resolve_target({host, 443}, "", "cluster.local", dir, none).kind, MeshTarget::Kind::kDirect) << host;
  auto p = route(dir, {"example.com", 443}, "gw", "cluster.local");
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p), std::vector<std::string>{"gw"});
  EXPECT_EQ(p->authority.str(), "example.com:443");  // the gateway dials it
  // A node keeps its own path even from a listener with a via.
  p = route(dir, {"b", 80}, "gw", "cluster.local");
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p), std::vector<std::string>{"b"});
}

TEST(ResolveTarget, ANodeBehindAGatewayIsReachedInsideAConnectToIt) {
  auto list = nodes();
  NodeDirectory dir(list);
  auto p = route(dir, {"c", 80}, "", "cluster.local");
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p), (std::vector<std::string>{"gw", "c"}));
  EXPECT_EQ(p->authority.str(), "127.0.0.1:80");
  MeshPath outer = p->prefix();
  EXPECT_EQ(names(outer), std::vector<std::string>{"gw"});
  EXPECT_EQ(outer.authority.str(), "192.168.1.3:15008") << "the gateway is asked for c's mesh port";
  // Keys name every connection of the chain: c's connection is not gw's.
  EXPECT_NE(p->connection_key(), outer.connection_key());
  EXPECT_EQ(outer.connection_key(), route(dir, {"gw", 1}, "", "cluster.local")->connection_key());
  EXPECT_EQ(route(dir, {"gw", 1}, "", "")->connection_key(), route(dir, {"x.test", 2}, "gw", "")->connection_key());
}

// The order: a neighbour on the link, then a reverse registration, then the
// configured address, then the node's gateway by name; else unavailable.
TEST(ResolveTarget, NeighbourThenReverseThenConfigThenGateway) {
  std::vector<NodeConfig> list = nodes();
  list.push_back({"d", {}, "spiffe://cluster.local/ns/default/sa/d", "gw"});  // no address: behind gw
  NodeDirectory dir(list);
  Around around;
  ReverseRegistry::Entry entry;
  entry.serial = 7;
  around.registrations.emplace_back(kB, entry);
  around.registrations.emplace_back("e", entry);  // an unconfigured node, by name
  MeshTarget t = resolve_target({"b", 80}, "", "cluster.local", dir, around);
  EXPECT_EQ(t.kind, MeshTarget::Kind::kReverse);
  EXPECT_EQ(t.reverse.serial, 7u);
  EXPECT_EQ(t.authority.str(), "127.0.0.1:80");
  around.neighbours.push_back({"b", {"fe80::2", 15008}, kB, ""});
  t = resolve_target({"b", 80}, "", "cluster.local", dir, around);
  ASSERT_EQ(t.kind, MeshTarget::Kind::kPath);
  EXPECT_EQ(t.path.hops.front().address.host, "fe80::2") << "the link beats the gateway";
  t = resolve_target({"e.cluster.local", 80}, "", "cluster.local", dir, around);
  EXPECT_EQ(t.kind, MeshTarget::Kind::kReverse);
  t = resolve_target({"d", 80}, "", "cluster.local", dir, Around{});
  ASSERT_EQ(t.kind, MeshTarget::Kind::kPath);
  EXPECT_EQ(names(t.path), (std::vector<std::string>{"gw", "d"})) << "TLS to d itself, inside a CONNECT to gw";
  EXPECT_EQ(t.path.authority.str(), "127.0.0.1:80");
  EXPECT_EQ(t.path.hops.back().id, "spiffe://cluster.local/ns/default/sa/d") << "d must prove to be d";
  EXPECT_EQ(t.path.prefix().authority.str(), "d.cluster.local:15008") << "the gateway is asked for d's mesh port by name";
  EXPECT_NE(t.path.connection_key(), t.path.prefix().connection_key());
  EXPECT_EQ(resolve_target({"nobody.cluster.local", 80}, "", "cluster.local", dir, Around{}).kind,
            MeshTarget::Kind::kUnavailable);
}

// A ztunnel serves only its workloads' addresses: a node configured with one
// is asked for it, whichever way it is reached; other nodes keep loopback.
TEST(ResolveTarget, ANodesWorkloadAddressIsTheAuthorityEveryWay) {
  std::vector<NodeConfig> list = nodes();
  NodeConfig zt{"zt", {"10.0.0.7", 15008}, kB, ""};
  zt.workload_address = "10.0.0.7";
  list.push_back(zt);
  NodeConfig zt6{"zt6", {"fd00::7", 15008}, kNodeId, ""};
  zt6.workload_address = "fd00::7";
  list.push_back(zt6);
  NodeDirectory dir(list);
  auto p = route(dir, {"zt", 8080}, "", "cluster.local");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->authority.str(), "10.0.0.7:8080");
  EXPECT_EQ(route(dir, {"zt.cluster.local", 22}, "", "cluster.local")->authority.str(), "10.0.0.7:22");
  EXPECT_EQ(route(dir, {"zt6", 8080}, "", "cluster.local")->authority.str(), "[fd00::7]:8080");
  EXPECT_EQ(route(dir, {"b", 8080}, "", "cluster.local")->authority.str(), "127.0.0.1:8080") << "default unchanged";

  Around around;
  around.neighbours.push_back({"zt", {"fe80::7", 15008}, kB, ""});  // discovery knows no workload address
  MeshTarget t = resolve_target({"zt", 80}, "", "cluster.local", dir, around);
  ASSERT_EQ(t.kind, MeshTarget::Kind::kPath);
  EXPECT_EQ(t.path.hops.front().address.host, "fe80::7");
  EXPECT_EQ(t.path.authority.str(), "10.0.0.7:80") << "the configured node's, on the link too";
  around.neighbours.clear();
  ReverseRegistry::Entry entry;
  around.registrations.emplace_back(kNodeId, entry);
  t = resolve_target({"zt6", 80}, "", "cluster.local", dir, around);
  ASSERT_EQ(t.kind, MeshTarget::Kind::kReverse);
  EXPECT_EQ(t.authority.str(), "[fd00::7]:80");
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


#include "dns/mesh_answer.h"

#include <gtest/gtest.h>

#include "dns_test_util.h"
#include "mesh/virtual_addresses.h"

namespace ugate::dns {
namespace {

const std::string kBobId = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst";

std::vector<NodeConfig> nodes() {
  NodeConfig bob{.name = "bob", .address = {"10.0.0.2", 15008}, .id = kBobId};
  NodeConfig carol{.name = "carol", .address = {"10.0.0.3", 15008}, .id = "spiffe://example.org/ns/x/sa/carol"};
  return {bob, carol};
}

Cidr cidr(const char* net, uint8_t prefix) { return Cidr{boost::asio::ip::make_address(net), prefix}; }

struct Asked {
  ResponseInfo info;
  std::vector<uint8_t> out;
};

std::optional<Asked> ask(const MeshZone& zone, std::string_view name, uint16_t type) {
  auto m = test::query(name, type);
  Asked a;
  if (!zone.answer(m, *parse_query(m), a.out)) return std::nullopt;
  auto info = parse_response(a.out);
  EXPECT_TRUE(info) << to_string(info.error());
  a.info = *info;
  return a;
}

TEST(VirtualAddresses, StableInTheirRangesAndMappedBack) {
  auto n = nodes();
  VirtualAddresses v(n, cidr("240.240.0.0", 16), cidr("fd00:0:0:53::", 64));
  const VirtualNode* bob = v.find("BOB");
  ASSERT_TRUE(bob && bob->v4 && bob->v6);
  EXPECT_TRUE(v.ipv4_range().contains(*bob->v4));
  EXPECT_TRUE(v.ipv6_range().contains(*bob->v6));
  EXPECT_EQ(v.find(kBobId), bob);
  EXPECT_EQ(v.by_address(*bob->v4), bob);
  EXPECT_EQ(v.by_address(*bob->v6), bob);
  EXPECT_EQ(v.by_address(boost::asio::ip::make_address("::ffff:" + bob->v4->to_string())), bob);
  EXPECT_EQ(v.by_address(boost::asio::ip::make_address("240.240.0.0")), nullptr);
  // The same nodes in another order: the same addresses.
  std::vector<NodeConfig> reversed(n.rbegin(), n.rend());
  VirtualAddresses again(reversed, cidr("240.240.0.0", 16), cidr("fd00:0:0:53::", 64));
  EXPECT_EQ(again.find("bob")->v4, bob->v4);
  EXPECT_EQ(again.find("carol")->v6, v.find("carol")->v6);
}

TEST(VirtualAddresses, CollisionsMoveOnAndAFullRangeGivesNone) {
  std::vector<NodeConfig> many;
  for (int i = 0; i < 3; ++i) many.push_back(NodeConfig{.name = "n" + std::to_string(i)});
  // A /30 has two usable numbers: two nodes get one each, the third none.
  VirtualAddresses v(many, cidr("10.9.9.0", 30), cidr("fd00:0:0:53::", 64));
  std::set<std::string> seen;
  int without = 0;
  for (const auto& n : v.nodes()) {
    if (!n.v4) ++without;
    else EXPECT_TRUE(seen.insert(n.v4->to_string()).second);
  }
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(without, 1);
  EXPECT_FALSE(seen.count("10.9.9.0") || seen.count("10.9.9.3"));
}

TEST(MeshZone, AnswersNodesInTheTrustDomainAndTheZone) {
  auto n = nodes();
  VirtualAddresses v(n, cidr("240.240.0.0", 16), cidr("fd00:0:0:53::", 64));
  MeshZone zone(v, "example.org", "mesh.internal", 30);
  auto a = ask(zone, "bob.mesh.internal", kA);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->info.header.rcode(), kNoError);
  ASSERT_EQ(a->info.header.ancount, 1);
  EXPECT_TRUE(a->info.header.flags & 0x0400);  // authoritative
  const size_t rdata = a->out.size() - 4;
  EXPECT_EQ(boost::asio::ip::address_v4({a->out[rdata], a->out[rdata + 1], a->out[rdata + 2], a->out[rdata + 3]}),
            *v.find("bob")->v4);
  auto aaaa = ask(zone, "BOB.example.org", kAaaa);
  ASSERT_TRUE(aaaa);
  EXPECT_EQ(aaaa->info.header.ancount, 1);
  auto by_id = ask(zone, kBobId + ".example.org", kA);
  ASSERT_TRUE(by_id);
  EXPECT_EQ(by_id->info.header.ancount, 1);
}

TEST(MeshZone, NxDomainNoDataAndNotOurs) {
  auto n = nodes();
  VirtualAddresses v(n, cidr("240.240.0.0", 16), cidr("fd00:0:0:53::", 64));
  MeshZone zone(v, "example.org", "mesh.internal", 30);
  auto nx = ask(zone, "nobody.mesh.internal", kA);
  ASSERT_TRUE(nx);
  EXPECT_EQ(nx->info.header.rcode(), kNxDomain);
  EXPECT_EQ(nx->info.soa_minimum, 30u);
  EXPECT_EQ(ask(zone, "a.bob.mesh.internal", kA)->info.header.rcode(), kNxDomain);
  auto txt = ask(zone, "bob.mesh.internal", kTxt);
  ASSERT_TRUE(txt);
  EXPECT_EQ(txt->info.header.rcode(), kNoError);
  EXPECT_EQ(txt->info.header.ancount, 0);
  auto apex = ask(zone, "mesh.internal", kA);
  ASSERT_TRUE(apex);
  EXPECT_EQ(apex->info.header.rcode(), kNoError);
  EXPECT_FALSE(ask(zone, "bob.example.com", kA));
  EXPECT_FALSE(ask(zone, "xmesh.internal", kA));  // not at a label's start
}

TEST(MeshZone, ANodeWithOnlyAnIpv6AddressAnswersNoDataForA) {
  std::vector<NodeConfig> one{NodeConfig{.name = "solo"}};
  VirtualAddresses v(one, cidr("10.9.9.0", 31), cidr("fd00:0:0:53::", 64));  // no IPv4 left for anyone
  MeshZone zone(v, "", "mesh.internal", 30);
  auto a = ask(zone, "solo.mesh.internal", kA);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->info.header.rcode(), kNoError);
  EXPECT_EQ(a->info.header.ancount, 0);
  EXPECT_EQ(ask(zone, "solo.mesh.internal", kAaaa)->info.header.ancount, 1);
}

}  // namespace
}  // namespace ugate::dns

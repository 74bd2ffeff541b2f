// Local discovery: the node table (TTL, replays, clock skew) and what the
// service makes of announces: accepted, replayed, forged, untrusted, stale.
#include "discovery/discovery.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "identity/identity.h"
#include "identity/mesh_identity.h"
#include "identity/node_id.h"
#include "crypto/p256.h"
#include "temp_dir.h"

namespace ugate::discovery {
namespace {

namespace ip = boost::asio::ip;
using std::chrono::seconds;

DiscoveredNode node(std::string id, uint64_t ts, uint32_t seq = 1) {
  DiscoveredNode n;
  n.node_id = std::move(id);
  n.timestamp_ms = ts;
  n.sequence = seq;
  n.mesh_port = 15008;
  n.addresses = {ip::make_address("10.0.0.2")};
  n.source = ip::make_address("10.0.0.2");
  return n;
}

constexpr uint64_t kNow = 1'760'000'000'000;

TEST(NodeTable, TakesNewerAnnouncesAndRefusesReplays) {
  NodeTable t(seconds(30), seconds(60), 16);
  auto now = Clock::now();
  EXPECT_EQ(t.offer(node("a", kNow), kNow, now), NodeTable::Verdict::kNew);
  EXPECT_EQ(t.offer(node("a", kNow), kNow, now), NodeTable::Verdict::kDuplicate) << "the same again";
  EXPECT_EQ(t.offer(node("a", kNow - 5), kNow, now), NodeTable::Verdict::kReplayed) << "an older one";
  EXPECT_EQ(t.offer(node("a", kNow, 2), kNow, now), NodeTable::Verdict::kRefreshed) << "same ms, next sequence";
  EXPECT_EQ(t.offer(node("a", kNow + 1000, 1), kNow, now), NodeTable::Verdict::kRefreshed) << "a restart: later time";
  EXPECT_EQ(t.nodes().size(), 1u);
}

TEST(NodeTable, RefusesAnnouncesFarFromOurClock) {
  NodeTable t(seconds(30), seconds(60), 16);
  auto now = Clock::now();
  EXPECT_EQ(t.offer(node("a", kNow - 61'000), kNow, now), NodeTable::Verdict::kStale);
  EXPECT_EQ(t.offer(node("a", kNow + 61'000), kNow, now), NodeTable::Verdict::kStale);
  EXPECT_EQ(t.offer(node("a", kNow - 59'000), kNow, now), NodeTable::Verdict::kNew);
  EXPECT_TRUE(t.fresh(kNow, kNow));
  EXPECT_FALSE(t.fresh(0, kNow));
}

TEST(NodeTable, ExpiresSilentNodesButStillRefusesTheirReplays) {
  NodeTable t(seconds(30), seconds(60), 16);
  auto t0 = Clock::now();
  ASSERT_EQ(t.offer(node("a", kNow), kNow, t0), NodeTable::Verdict::kNew);
  EXPECT_TRUE(t.expire(kNow + 29'000, t0 + seconds(29)).empty());
  auto gone = t.expire(kNow + 31'000, t0 + seconds(31));
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0], "a");
  EXPECT_EQ(t.find("a"), nullptr);
  // Recorded while it lived and replayed after it expired: still refused.
  EXPECT_EQ(t.offer(node("a", kNow - 1), kNow + 31'000, t0 + seconds(31)), NodeTable::Verdict::kReplayed);
  // Once its last announce is stale, the mark goes: staleness refuses it anyway.
  t.expire(kNow + 61'000, t0 + seconds(61));
  EXPECT_EQ(t.offer(node("a", kNow), kNow + 61'000, t0 + seconds(61)), NodeTable::Verdict::kStale);
  EXPECT_EQ(t.offer(node("a", kNow + 60'000), kNow + 61'000, t0 + seconds(61)), NodeTable::Verdict::kNew);
}

TEST(NodeTable, IsBounded) {
  NodeTable t(seconds(30), seconds(60), 2);
  auto now = Clock::now();
  EXPECT_EQ(t.offer(node("a", kNow), kNow, now), NodeTable::Verdict::kNew);
  EXPECT_EQ(t.offer(node("b", kNow), kNow, now), NodeTable::Verdict::kNew);
  EXPECT_EQ(t.offer(node("c", kNow), kNow, now), NodeTable::Verdict::kFull);
  EXPECT_EQ(t.offer(node("a", kNow + 1), kNow, now), NodeTable::Verdict::kRefreshed) << "known nodes still refresh";
}

TEST(NodeTable, DialsTheSourceWhenAnnouncedElseTheFirstAddress) {
  DiscoveredNode n = node("a", kNow);
  n.addresses = {ip::make_address("192.0.2.1"), ip::make_address("10.0.0.2")};
  EXPECT_EQ(n.mesh_endpoint()->address().to_string(), "10.0.0.2");
  n.source = ip::make_address("10.9.9.9");  // not announced: not trusted as a way there
  EXPECT_EQ(n.mesh_endpoint()->address().to_string(), "192.0.2.1");
  n.addresses = {ip::make_address("fe80::2")};
  n.source = ip::make_address("fe80::2");
  n.scope_id = 7;
  EXPECT_EQ(n.mesh_endpoint()->address().to_v6().scope_id(), 7u) << "link-local: the interface it came in on";
  n.mesh_port = 0;
  EXPECT_FALSE(n.mesh_endpoint()) << "no mesh port: nothing to dial";
}

// ---- the service, with real identities from one mini CA ---------------------

std::string temp_dir() { return test::temp_dir("disc"); }

std::shared_ptr<const NodeIdentity> identity(const std::string& state, const std::string& ca_dir,
                                             const std::string& name) {
  IdentityConfig cfg;
  cfg.name = name;
  cfg.trust_domain = "mesh.test";
  cfg.ca = IdentityConfig::Ca::kLocal;
  cfg.ca_dir = ca_dir;
  return load_or_create_identity(cfg, state);
}

uint64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Bytes announce_of(const NodeIdentity& id, uint64_t ts, uint32_t seq) {
  Announce a;
  a.timestamp_ms = ts;
  a.sequence = seq;
  a.mesh_port = 15008;
  a.addresses = {ip::make_address("10.0.0.2")};
  for (const auto& c : id.chain) a.chain.push_back(to_der(c.get()));
  Bytes out = encode_unsigned(a);
  auto sig = crypto::es256_sign(id.key.get(), out);
  out.insert(out.end(), sig->begin(), sig->end());
  return out;
}

class DiscoveryHandle : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir();
    me_ = identity(dir_ + "/me", dir_ + "/ca", "me");
    bob_ = identity(dir_ + "/bob", dir_ + "/ca", "bob");
    mine_ = std::make_unique<MeshIdentity>(me_, MeshIdentity::Options{});
    DiscoveryConfig cfg;
    cfg.enabled = true;
    d_ = std::make_unique<Discovery>(io_, cfg, *mine_, TcpEndpoint(ip::make_address("0.0.0.0"), 15008));
  }
  Heard heard(const Bytes& datagram) { return d_->handle(datagram, from_); }
  uint64_t count(Heard h) { return d_->stats().received[static_cast<size_t>(h)].get(); }

  asio::io_context io_;
  std::string dir_;
  std::shared_ptr<const NodeIdentity> me_, bob_;
  std::unique_ptr<MeshIdentity> mine_;
  std::unique_ptr<Discovery> d_;
  ip::udp::endpoint from_{ip::make_address("10.0.0.2"), 5227};
};

TEST_F(DiscoveryHandle, AcceptsAPeerAndPublishesItForTheDataPlane) {
  EXPECT_EQ(heard(announce_of(*bob_, wall_ms(), 1)), Heard::kAccepted);
  auto n = d_->neighbours();
  ASSERT_EQ(n->size(), 1u);
  const Neighbour& bob = n->at(bob_->node_id);
  EXPECT_EQ(bob.spiffe_id, "spiffe://mesh.test/ns/default/sa/bob");
  EXPECT_EQ(format_endpoint(bob.mesh), "10.0.0.2:15008");
  auto json = d_->describe();
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["node_id"], bob_->node_id);
  EXPECT_EQ(count(Heard::kAccepted), 1u);
}

TEST_F(DiscoveryHandle, RefusesAReplayAndAForgery) {
  Bytes original = announce_of(*bob_, wall_ms(), 1);
  ASSERT_EQ(heard(original), Heard::kAccepted);
  EXPECT_EQ(heard(original), Heard::kDuplicate) << "the same announce by the other address family";
  ASSERT_EQ(heard(announce_of(*bob_, wall_ms(), 2)), Heard::kAccepted);
  EXPECT_EQ(heard(original), Heard::kReplayed) << "an older announce, recorded and sent again";
  // A later announce in Bob's name, with its timestamp moved: the signature no longer matches.
  Bytes forged = announce_of(*bob_, wall_ms(), 3);
  forged[13] ^= 0x01;
  EXPECT_EQ(heard(forged), Heard::kBadSignature);
  Bytes bad_sig = announce_of(*bob_, wall_ms(), 4);
  bad_sig.back() ^= 0x80;
  EXPECT_EQ(heard(bad_sig), Heard::kBadSignature);
  EXPECT_EQ(count(Heard::kReplayed), 1u);
  EXPECT_EQ(count(Heard::kBadSignature), 2u);
  // Nothing of it changed what we know of Bob.
  EXPECT_EQ(d_->describe()[0]["sequence"], 2);
}

TEST_F(DiscoveryHandle, RefusesOtherMeshesStaleAnnouncesAndGarbage) {
  auto stranger = identity(dir_ + "/stranger", dir_ + "/other-ca", "bob");
  EXPECT_EQ(heard(announce_of(*stranger, wall_ms(), 1)), Heard::kUntrusted);
  EXPECT_EQ(heard(announce_of(*bob_, wall_ms() - 3'600'000, 1)), Heard::kStale);
  EXPECT_EQ(heard(Bytes{'U', 'G', 'A', 'N', 1}), Heard::kMalformed);
  std::string hello = "hello";
  EXPECT_EQ(heard(Bytes(hello.begin(), hello.end())), Heard::kMalformed);
  EXPECT_EQ(d_->size(), 0u);
}

TEST_F(DiscoveryHandle, IgnoresItsOwnAnnounces) {
  EXPECT_EQ(heard(announce_of(*me_, wall_ms(), 1)), Heard::kOwn);
  EXPECT_EQ(d_->size(), 0u);
}

TEST_F(DiscoveryHandle, BoundsTheVerificationsPerSecond) {
  // Forged announces each cost a signature check: past the budget they are dropped unchecked.
  unsigned limited = 0;
  Bytes forged = announce_of(*bob_, wall_ms(), 1);
  forged.back() ^= 1;
  const unsigned budget = Discovery::kVerifiesPerSecond;
  for (unsigned i = 0; i < 3 * budget; ++i) limited += heard(forged) == Heard::kRateLimited;
  // At most two budgets are spent (the loop may cross one second boundary).
  EXPECT_GE(limited, budget);
  EXPECT_LE(limited, 2 * budget);
}

}  // namespace
}  // namespace ugate::discovery

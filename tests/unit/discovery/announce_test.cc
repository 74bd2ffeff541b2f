// The discovery announce codec, and the verification of the certificate
// chain an announce carries.
#include "discovery/announce.h"

#include <gtest/gtest.h>

#include "identity/ca.h"
#include "identity/cert.h"
#include "identity/node_id.h"
#include "identity/peer_chain.h"
#include "crypto/p256.h"
#include "temp_dir.h"

namespace ugate::discovery {
namespace {

namespace ip = boost::asio::ip;

std::string temp_dir() { return test::temp_dir("an"); }

Announce sample() {
  Announce a;
  a.timestamp_ms = 1'760'000'000'123;
  a.sequence = 42;
  a.mesh_port = 15008;
  a.addresses = {ip::make_address("10.0.0.2"), ip::make_address("fe80::1"), ip::make_address("2001:db8::7")};
  a.chain = {Bytes(300, 0xab), Bytes{1, 2, 3}};
  return a;
}

Bytes signed_with_dummy(const Announce& a) {
  Bytes out = encode_unsigned(a);
  out.insert(out.end(), kSignatureSize, 0x5a);
  return out;
}

TEST(Announce, RoundTrips) {
  Announce a = sample();
  Bytes wire = signed_with_dummy(a);
  auto p = parse_announce(wire);
  ASSERT_TRUE(p) << to_string(p.error());
  EXPECT_EQ(p->announce.timestamp_ms, a.timestamp_ms);
  EXPECT_EQ(p->announce.sequence, a.sequence);
  EXPECT_EQ(p->announce.mesh_port, a.mesh_port);
  EXPECT_EQ(p->announce.addresses, a.addresses);
  EXPECT_EQ(p->announce.chain, a.chain);
  EXPECT_EQ(p->signed_part.size(), wire.size() - kSignatureSize);
  EXPECT_EQ(p->signature.size(), kSignatureSize);
  EXPECT_EQ(p->signature[0], 0x5a);
}

TEST(Announce, EveryTruncationIsRefused) {
  Bytes wire = signed_with_dummy(sample());
  for (size_t n = 0; n < wire.size(); ++n) {
    auto p = parse_announce(std::span(wire.data(), n));
    ASSERT_FALSE(p) << "prefix of " << n << " bytes";
    EXPECT_EQ(p.error(), AnnounceError::kTruncated) << n;
  }
}

TEST(Announce, RefusesWhatIsNotOne) {
  Bytes wire = signed_with_dummy(sample());
  auto error_of = [](Bytes b) { return parse_announce(b).error(); };
  Bytes b = wire;
  b[0] = 'X';
  EXPECT_EQ(error_of(b), AnnounceError::kBadMagic);
  b = wire;
  b[4] = 2;
  EXPECT_EQ(error_of(b), AnnounceError::kBadVersion);
  b = wire;
  b[5] = 1;
  EXPECT_EQ(error_of(b), AnnounceError::kBadField) << "reserved flags";
  b = wire;
  b[21] = 5;  // the first address's family
  EXPECT_EQ(error_of(b), AnnounceError::kBadField);
  b = wire;
  b[20] = kMaxAddresses + 1;
  EXPECT_EQ(error_of(b), AnnounceError::kBadField);
  b = wire;
  b.push_back(0);
  EXPECT_EQ(error_of(b), AnnounceError::kTrailingBytes);
  b = Bytes(kMaxAnnounce + 1, 0);
  EXPECT_EQ(error_of(b), AnnounceError::kTooLong);
  Announce none = sample();
  none.chain.clear();
  EXPECT_EQ(error_of(signed_with_dummy(none)), AnnounceError::kBadField) << "no certificate";
  Announce empty = sample();
  empty.chain = {Bytes{}};
  EXPECT_EQ(error_of(signed_with_dummy(empty)), AnnounceError::kBadField) << "an empty certificate";
}

TEST(Announce, OtherTrafficOnThePortIsNotAnAnnounce) {
  std::string text = "M-SEARCH * HTTP/1.1\r\n\r\n";
  auto p = parse_announce(as_bytes(text));
  EXPECT_FALSE(p);
  EXPECT_EQ(parse_announce(as_bytes("")).error(), AnnounceError::kTruncated);
}

TEST(Announce, EncodingCapsTheLists) {
  Announce a = sample();
  a.addresses.assign(40, ip::make_address("10.1.1.1"));
  a.chain.assign(5, Bytes{9});
  auto p = parse_announce(signed_with_dummy(a));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->announce.addresses.size(), kMaxAddresses);
  EXPECT_EQ(p->announce.chain.size(), kMaxCerts);
}

struct Node {
  ossl::PKey key;
  ossl::Certs chain;
};

Node issue(const LocalCa& ca, const std::string& name) {
  Node n;
  n.key = generate_p256_key();
  n.chain = ca.issue(n.key.get(), workload_spiffe_id(ca.trust_domain(), "default", name), {name},
                     std::chrono::hours(1));
  return n;
}

TEST(PeerChain, VerifiesAgainstTheRootsAndNamesThePeer) {
  std::string dir = temp_dir();
  LocalCa ca = LocalCa::init(dir + "/ca", "mesh.test");
  Node node = issue(ca, "bob");
  ChainVerifier verifier(ca.roots());
  auto peer = verifier.verify({to_der(node.chain[0].get())});
  ASSERT_TRUE(peer) << to_string(peer.error());
  EXPECT_EQ(peer->spiffe_id, "spiffe://mesh.test/ns/default/sa/bob");
  EXPECT_EQ(peer->trust_domain, "mesh.test");
  EXPECT_EQ(peer->node_id, node_id_of(node.key.get()));

  // And a signature by the node's key verifies with the key the chain gave.
  Bytes data = encode_unsigned(sample());
  auto sig = crypto::es256_sign(node.key.get(), data);
  ASSERT_TRUE(sig);
  EXPECT_TRUE(crypto::es256_verify(peer->key.get(), data, *sig));
  data[3] ^= 1;
  EXPECT_FALSE(crypto::es256_verify(peer->key.get(), data, *sig));
}

TEST(PeerChain, RefusesOtherCasAndGarbage) {
  std::string dir = temp_dir();
  LocalCa ca = LocalCa::init(dir + "/ca", "mesh.test");
  LocalCa other = LocalCa::init(dir + "/other", "mesh.test");
  ChainVerifier verifier(ca.roots());
  Node stranger = issue(other, "mallory");
  auto r = verifier.verify({to_der(stranger.chain[0].get())});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), ChainError::kUntrusted);
  EXPECT_EQ(verifier.verify({Bytes{0x30, 0x03, 1, 2, 3}}).error(), ChainError::kUnparsable);
  EXPECT_EQ(verifier.verify({}).error(), ChainError::kUnparsable);
  Bytes der = to_der(issue(ca, "bob").chain[0].get());
  der.push_back(0);
  EXPECT_EQ(verifier.verify({der}).error(), ChainError::kUnparsable) << "trailing bytes";
}

}  // namespace
}  // namespace ugate::discovery

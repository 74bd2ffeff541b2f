// Node messages signed by their sender (node_envelope.h), receipts signed
// by their receiver (node_receipt.h) and the receiver's replay set
// (seen_messages.h): each check that must refuse what a gateway could forge,
// alter, redirect or replay. Real certificates from LocalCas.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "identity/ca.h"
#include "identity/cert.h"
#include "identity/node_id.h"
#include "temp_dir.h"
#include "webpush/message.h"
#include "webpush/node_envelope.h"
#include "webpush/node_receipt.h"
#include "webpush/seen_messages.h"

namespace ugate::webpush {
namespace {

using nlohmann::json;

constexpr int64_t kNow = 1'800'000'000'000;  // ms
constexpr int64_t kMinute = 60'000;

struct Signer {
  ossl::PKey key;
  std::vector<Bytes> chain;
  std::string node_id;
};

Signer make_signer(const LocalCa& ca, const std::string& name) {
  Signer s{generate_p256_key(), {}, {}};
  for (auto& c : ca.issue(s.key.get(), workload_spiffe_id(ca.trust_domain(), "default", name), {name},
                          std::chrono::hours(1)))
    s.chain.push_back(to_der(c.get()));
  s.node_id = node_id_of(s.key.get());
  return s;
}

class NodeEnvelopeTest : public ::testing::Test {
 protected:
  std::string dir = test::temp_dir("env");
  LocalCa ca = LocalCa::init(dir + "/ca", "mesh.test");
  LocalCa other_ca = LocalCa::init(dir + "/other", "mesh.test");
  Signer alice = make_signer(ca, "alice"), bob = make_signer(ca, "bob"), carol = make_signer(ca, "carol");
  ChainVerifier roots{ca.roots()};
  EnvelopeFields fields{bob.node_id, "", "mid-1", kNow, kNow + 10 * kMinute};
  Bytes payload = Bytes{'h', 'i', '\n', 0, 0xff};  // any bytes, newlines too

  Bytes seal(const Signer& by, const EnvelopeFields& f) {
    return seal_envelope(by.key.get(), by.node_id, by.chain, f, payload);
  }
  // Bob opens it as the gateway delivered it "from" claimed_from.
  Result<OpenedEnvelope, EnvelopeError> open(const Bytes& sealed, std::string_view claimed_from,
                                             std::string_view claimed_channel = "", int64_t now = kNow) {
    std::string detail;
    return open_envelope(sealed, roots, {bob.node_id, claimed_from, claimed_channel, now}, &detail);
  }
};

TEST_F(NodeEnvelopeTest, TheReceiverGetsTheSignedSenderAndPayload) {
  Bytes sealed = seal(alice, fields);
  ASSERT_FALSE(sealed.empty());
  std::string detail;
  auto opened = open_envelope(sealed, roots, {bob.node_id, alice.node_id, "", kNow}, &detail);
  ASSERT_TRUE(opened) << detail;
  EXPECT_EQ(opened->from, alice.node_id);
  EXPECT_EQ(opened->spiffe_id, "spiffe://mesh.test/ns/default/sa/alice");
  EXPECT_EQ(opened->payload, payload);
  EXPECT_EQ(opened->fields.id, "mid-1");
  EXPECT_EQ(opened->fields.expires_ms, kNow + 10 * kMinute);
  // It still fits a Web Push message with room for text: the chain is the cost.
  EXPECT_LT(sealed.size(), kMaxPlaintextSize / 2);
}

TEST_F(NodeEnvelopeTest, AnUnsignedMessageIsRefused) {
  EXPECT_EQ(open(payload, alice.node_id).error(), EnvelopeError::kUnsigned);
  std::string json_text = "{\"text\":\"hello\"}\nhello";
  EXPECT_EQ(open(Bytes(json_text.begin(), json_text.end()), alice.node_id).error(), EnvelopeError::kUnsigned);
  EXPECT_EQ(open(Bytes{}, alice.node_id).error(), EnvelopeError::kUnsigned);
}

TEST_F(NodeEnvelopeTest, AlteredPayloadOrFieldsBreakTheSignature) {
  Bytes sealed = seal(alice, fields);
  Bytes altered = sealed;
  altered.back() ^= 1;
  EXPECT_EQ(open(altered, alice.node_id).error(), EnvelopeError::kBadSignature);

  // Any signed field changed in the header: the ID, the expiry.
  auto edit = [&](const char* key, const json& value) {
    std::string text(as_text(sealed));
    size_t nl = text.find('\n');
    json header = json::parse(text.substr(0, nl));
    header[key] = value;
    std::string out = header.dump() + text.substr(nl);
    return Bytes(out.begin(), out.end());
  };
  EXPECT_EQ(open(edit("id", "mid-2"), alice.node_id).error(), EnvelopeError::kBadSignature);
  EXPECT_EQ(open(edit("expires", kNow + 20 * kMinute), alice.node_id).error(), EnvelopeError::kBadSignature);
  EXPECT_EQ(open(edit("channel", "ops"), alice.node_id, "ops").error(), EnvelopeError::kBadSignature);
  EXPECT_EQ(open(edit("sent", "soon"), alice.node_id).error(), EnvelopeError::kMalformed);
  EXPECT_EQ(open(edit("v", 2), alice.node_id).error(), EnvelopeError::kMalformed);
}

TEST_F(NodeEnvelopeTest, SignedWithAnotherKeyThanTheChainsIsRefused) {
  // carol signs, but puts alice's chain in: the signature is not alice's key's.
  Bytes forged = seal_envelope(carol.key.get(), alice.node_id, alice.chain, fields, payload);
  EXPECT_EQ(open(forged, alice.node_id).error(), EnvelopeError::kBadSignature);
}

TEST_F(NodeEnvelopeTest, AChainFromOtherRootsIsRefused) {
  Signer mallory = make_signer(other_ca, "alice");  // the same name, another CA
  EXPECT_EQ(open(seal(mallory, fields), mallory.node_id).error(), EnvelopeError::kUntrusted);
}

TEST_F(NodeEnvelopeTest, AMessageForAnotherNodeIsRefused) {
  EnvelopeFields for_carol = fields;
  for_carol.to = carol.node_id;
  EXPECT_EQ(open(seal(alice, for_carol), alice.node_id).error(), EnvelopeError::kWrongRecipient);
}

TEST_F(NodeEnvelopeTest, TheGatewaysClaimsMustMatchTheSignedOnes) {
  Bytes sealed = seal(alice, fields);
  EXPECT_EQ(open(sealed, carol.node_id).error(), EnvelopeError::kSenderMismatch);
  EXPECT_EQ(open(sealed, "").error(), EnvelopeError::kSenderMismatch);
  EXPECT_EQ(open(sealed, alice.node_id, "ops").error(), EnvelopeError::kWrongChannel);
  EnvelopeFields on_ops = fields;
  on_ops.channel = "ops";
  EXPECT_TRUE(open(seal(alice, on_ops), alice.node_id, "ops"));
  EXPECT_EQ(open(seal(alice, on_ops), alice.node_id, "").error(), EnvelopeError::kWrongChannel);
}

TEST_F(NodeEnvelopeTest, ExpiredFutureAndOverlongAreRefused) {
  Bytes sealed = seal(alice, fields);
  EXPECT_TRUE(open(sealed, alice.node_id, "", fields.expires_ms + kEnvelopeClockSkewMs));
  EXPECT_EQ(open(sealed, alice.node_id, "", fields.expires_ms + kEnvelopeClockSkewMs + 1).error(),
            EnvelopeError::kExpired);
  EXPECT_EQ(open(sealed, alice.node_id, "", kNow - kEnvelopeClockSkewMs - 1).error(), EnvelopeError::kFromTheFuture);
  EnvelopeFields forever = fields;
  forever.expires_ms = kNow + kEnvelopeMaxLifetimeMs + 1;
  EXPECT_EQ(open(seal(alice, forever), alice.node_id).error(), EnvelopeError::kExpired);
  EnvelopeFields backwards = fields;
  backwards.expires_ms = kNow - 1;
  EXPECT_EQ(open(seal(alice, backwards), alice.node_id).error(), EnvelopeError::kExpired);
}

TEST_F(NodeEnvelopeTest, FieldsThatAreNotOneLineAreNotSigned) {
  EnvelopeFields bad = fields;
  bad.channel = "ops\nmid-1";
  EXPECT_TRUE(seal(alice, bad).empty());
}

TEST(SeenMessagesTest, ASecondDeliveryIsAReplayUntilTheMessageExpires) {
  SeenMessages seen;
  EXPECT_TRUE(seen.first_time("alice", "m1", kNow + kMinute, kNow));
  EXPECT_FALSE(seen.first_time("alice", "m1", kNow + kMinute, kNow + 1)) << "replayed";
  EXPECT_TRUE(seen.first_time("carol", "m1", kNow + kMinute, kNow)) << "another sender's ID";
  // Kept across restarts (the CLI's file), dropped once the envelope would be refused as expired anyway.
  SeenMessages reloaded = SeenMessages::from_json(json::parse(seen.to_json().dump()), kNow);
  EXPECT_FALSE(reloaded.first_time("alice", "m1", kNow + kMinute, kNow));
  SeenMessages later = SeenMessages::from_json(seen.to_json(), kNow + kMinute + kEnvelopeClockSkewMs + 1);
  EXPECT_EQ(later.size(), 0u);
  EXPECT_EQ(SeenMessages::from_json(json::array(), kNow).size(), 0u);
}

TEST_F(NodeEnvelopeTest, AReceiptVerifiesOnlyWithTheReceiversKeyForThatMessage) {
  std::string receipt = sign_receipt(bob.key.get(), bob.node_id, alice.node_id, "mid-1");
  ASSERT_FALSE(receipt.empty());
  auto bytes = [](const std::string& s) { return Bytes(s.begin(), s.end()); };
  std::string error;
  EXPECT_TRUE(verify_receipt(bytes(receipt), bob.key.get(), bob.node_id, alice.node_id, "mid-1", &error)) << error;
  // The gateway's unsigned receipt, another message's, carol's signature, another sender's.
  EXPECT_FALSE(verify_receipt({}, bob.key.get(), bob.node_id, alice.node_id, "mid-1", &error));
  EXPECT_NE(error.find("not signed"), std::string::npos);
  EXPECT_FALSE(verify_receipt(bytes(receipt), bob.key.get(), bob.node_id, alice.node_id, "mid-2", &error));
  EXPECT_NE(error.find("another message"), std::string::npos);
  std::string by_carol = sign_receipt(carol.key.get(), bob.node_id, alice.node_id, "mid-1");
  EXPECT_FALSE(verify_receipt(bytes(by_carol), bob.key.get(), bob.node_id, alice.node_id, "mid-1", &error));
  EXPECT_NE(error.find("signature"), std::string::npos);
  EXPECT_FALSE(verify_receipt(bytes(receipt), bob.key.get(), bob.node_id, carol.node_id, "mid-1", &error));
  EXPECT_FALSE(verify_receipt(bytes("{}"), bob.key.get(), bob.node_id, alice.node_id, "mid-1", &error));
}

}  // namespace
}  // namespace ugate::webpush

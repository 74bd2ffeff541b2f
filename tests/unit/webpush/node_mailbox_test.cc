// Node-to-node messages through the push service: signed key records that a
// sender verifies (so a gateway cannot swap keys), mailboxes keyed by the
// mesh certificate, channels, and delivery receipts. Real certificates from
// a LocalCa; the service on an in-memory store.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "identity/ca.h"
#include "identity/cert.h"
#include "identity/node_id.h"
#include "webpush/node_keys.h"
#include "webpush/node_receipt.h"
#include "webpush/push_service.h"
#include "temp_dir.h"

namespace ugate::webpush {
namespace {

using nlohmann::json;

std::string temp_dir() { return test::temp_dir("nm"); }

// A node: its certificate (as TLS would prove it) and its push key.
struct TestNode {
  ossl::PKey key;
  ossl::Certs chain;
  PushPeer peer;
  SubscriberSecret push = SubscriberSecret::generate();
};

TestNode make_node(const LocalCa& ca, const std::string& name) {
  TestNode n;
  n.key = generate_p256_key();
  n.chain = ca.issue(n.key.get(), workload_spiffe_id(ca.trust_domain(), "default", name), {name}, std::chrono::hours(1));
  n.peer = {node_id_of(n.key.get()), workload_spiffe_id(ca.trust_domain(), "default", name).str(), ca.trust_domain(),
            crypto::p256_public_raw(n.key.get()), {}};
  for (auto& c : n.chain) n.peer.chain.push_back(to_der(c.get()));
  return n;
}

std::string keys_body(const TestNode& n, const SubscriberKeys& keys) {
  Bytes sig = sign_node_keys(n.key.get(), n.peer.node_id, keys);
  return json{{"p256dh", base64url_encode(keys.p256dh)}, {"auth", base64url_encode(keys.auth)},
              {"sig", base64url_encode(sig)}}
      .dump();
}

class NodeMailboxTest : public ::testing::Test {
 protected:
  std::string dir = temp_dir();
  LocalCa ca = LocalCa::init(dir + "/ca", "mesh.test");
  TestNode alice = make_node(ca, "alice"), bob = make_node(ca, "bob"), carol = make_node(ca, "carol");
  asio::io_context ctx;
  std::unique_ptr<PushService> service;

  void SetUp() override {
    std::string error;
    auto store = PushStore::open(":memory:", &error);
    ASSERT_TRUE(store) << error;
    service = std::make_unique<PushService>(ctx, std::move(store),
                                            PushServiceConfig{.max_pending = 5, .trust_domain = "mesh.test"});
  }
  PushReply call(const TestNode* from, std::string method, std::string path, std::string body = "",
                 std::string query = "") {
    return service->handle({.method = std::move(method), .path = std::move(path), .query = std::move(query),
                            .host = "gw.test", .ttl = "60", .content_encoding = "aes128gcm", .body = std::move(body),
                            .peer = from ? &from->peer : nullptr});
  }
  void register_keys(const TestNode& n) {
    PushReply r = call(&n, "PUT", "/node/keys", keys_body(n, n.push.public_keys()));
    ASSERT_TRUE(r.status == 201 || r.status == 200) << r.status << " " << r.body;
  }
  // What a sender does: fetch the record, verify it, encrypt to it, send.
  PushReply send(const TestNode& from, const TestNode& to, std::string_view text, std::string query = "") {
    PushReply rec = call(&from, "GET", "/node/" + to.peer.node_id);
    EXPECT_EQ(rec.status, 200) << rec.body;
    std::string error;
    auto keys = verify_node_record(json::parse(rec.body), to.peer.node_id, ChainVerifier(ca.roots()), &error);
    EXPECT_TRUE(keys) << error;
    if (!keys) return {0};
    auto body = encrypt_message(as_bytes(text), keys->keys);
    return call(&from, "POST", "/node/" + to.peer.node_id, std::string(as_text(*body)), query);
  }
  std::vector<StoredMessage> inbox(const TestNode& n) {
    PushReply error;
    auto sub = service->node_inbox({.method = "GET", .path = "/node/inbox", .peer = &n.peer}, &error);
    EXPECT_TRUE(sub) << error.status << " " << error.body;
    return sub ? service->pending(*sub, 0, Urgency::kVeryLow) : std::vector<StoredMessage>{};
  }
};

TEST_F(NodeMailboxTest, KeyRecordsVerifyOnlyForTheirNodeAndKeys) {
  auto keys = bob.push.public_keys();
  Bytes sig = sign_node_keys(bob.key.get(), bob.peer.node_id, keys);
  ChainVerifier roots(ca.roots());
  std::string error;
  json record = node_record(bob.peer.node_id, bob.peer.spiffe_id, keys, sig, bob.peer.chain);
  auto ok = verify_node_record(record, bob.peer.node_id, roots, &error);
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(ok->keys.p256dh, keys.p256dh);
  EXPECT_EQ(ok->spiffe_id, "spiffe://mesh.test/ns/default/sa/bob");

  EXPECT_FALSE(verify_node_record(record, alice.peer.node_id, roots, &error));
  EXPECT_NE(error.find("not " + alice.peer.node_id), std::string::npos) << error;

  // A gateway that swaps in keys of its own cannot sign them as bob.
  json swapped = record;
  swapped["p256dh"] = base64url_encode(carol.push.public_keys().p256dh);
  EXPECT_FALSE(verify_node_record(swapped, bob.peer.node_id, roots, &error));
  EXPECT_NE(error.find("signature"), std::string::npos) << error;

  // Nor pass off another certificate (carol's chain with bob's record).
  json other_chain = record;
  other_chain["chain"] = json::array({base64url_encode(carol.peer.chain[0])});
  EXPECT_FALSE(verify_node_record(other_chain, bob.peer.node_id, roots, &error));

  // A chain from another CA is untrusted.
  LocalCa stranger = LocalCa::init(dir + "/other", "mesh.test");
  TestNode mallory = make_node(stranger, "bob");
  json forged = node_record(mallory.peer.node_id, mallory.peer.spiffe_id, keys,
                            sign_node_keys(mallory.key.get(), mallory.peer.node_id, keys), mallory.peer.chain);
  EXPECT_FALSE(verify_node_record(forged, "", roots, &error));
  EXPECT_NE(error.find("not trusted"), std::string::npos) << error;
  EXPECT_FALSE(verify_node_record(json("garbage"), "", roots, &error));
}

TEST_F(NodeMailboxTest, NodeEndpointsNeedAMeshCertificateOfTheTrustDomain) {
  EXPECT_EQ(call(nullptr, "PUT", "/node/keys", keys_body(bob, bob.push.public_keys())).status, 401);
  EXPECT_EQ(call(nullptr, "GET", "/node/" + bob.peer.node_id).status, 401);
  TestNode foreign = make_node(LocalCa::init(dir + "/other", "other.test"), "eve");
  EXPECT_EQ(call(&foreign, "PUT", "/node/keys", keys_body(foreign, foreign.push.public_keys())).status, 403);
  EXPECT_EQ(service->counters().rejected[static_cast<size_t>(PushReject::kUnauthorized)], 2u);
}

TEST_F(NodeMailboxTest, RegistrationChecksTheSignatureWithTheCertificateKey) {
  // Signed by alice's key but sent over bob's connection: refused.
  EXPECT_EQ(call(&bob, "PUT", "/node/keys", keys_body(alice, bob.push.public_keys())).status, 400);
  EXPECT_EQ(call(&bob, "PUT", "/node/keys", "{}").status, 400);
  EXPECT_EQ(call(&bob, "GET", "/node/" + bob.peer.node_id).status, 404);
  EXPECT_EQ(call(&bob, "PUT", "/node/keys", keys_body(bob, bob.push.public_keys())).status, 201);
  // Again with a new key: the same mailbox, the record replaced.
  SubscriberSecret fresh = SubscriberSecret::generate();
  EXPECT_EQ(call(&bob, "PUT", "/node/keys", keys_body(bob, fresh.public_keys())).status, 200);
  json record = json::parse(call(&alice, "GET", "/node/" + bob.peer.node_id).body);
  EXPECT_EQ(record["p256dh"], base64url_encode(fresh.public_keys().p256dh));
  EXPECT_EQ(service->store().node_count(), 1u);
}

TEST_F(NodeMailboxTest, MessageReachesTheNodeAndItsAckSendsAReceipt) {
  register_keys(alice);
  register_keys(bob);
  EXPECT_EQ(call(&alice, "GET", "/node/" + carol.peer.node_id).status, 404) << "carol has no mailbox";
  EXPECT_EQ(call(&alice, "POST", "/node/" + carol.peer.node_id, "x").status, 404);
  PushReply sent = send(alice, bob, "hello bob");
  ASSERT_EQ(sent.status, 201) << sent.body;

  auto got = inbox(bob);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].sender, alice.peer.node_id);
  EXPECT_EQ(std::string(as_text(*decrypt_message(got[0].body, bob.push))), "hello bob");
  EXPECT_TRUE(inbox(alice).empty());

  // Only bob may acknowledge it (the receipt says bob got it).
  EXPECT_EQ(call(&alice, "DELETE", "/m/" + got[0].id).status, 403);
  EXPECT_EQ(call(nullptr, "DELETE", "/m/" + got[0].id).status, 403);
  // bob's ack carries his signed receipt (node_receipt.h); the gateway stores it as the receipt's data.
  std::string signed_receipt = sign_receipt(bob.key.get(), bob.peer.node_id, alice.peer.node_id, "sender-mid");
  EXPECT_EQ(call(&bob, "DELETE", "/m/" + got[0].id, std::string(kMaxReceiptBody + 1, '{')).status, 413);
  EXPECT_EQ(call(&bob, "DELETE", "/m/" + got[0].id, signed_receipt).status, 204);
  EXPECT_TRUE(inbox(bob).empty());

  auto receipts = inbox(alice);
  ASSERT_EQ(receipts.size(), 1u);
  EXPECT_EQ(receipts[0].receipt_for, got[0].id);
  EXPECT_EQ(receipts[0].sender, bob.peer.node_id);
  EXPECT_EQ(std::string(as_text(receipts[0].body)), signed_receipt);
  // A receipt's ack sends no receipt back.
  EXPECT_EQ(call(&alice, "DELETE", "/m/" + receipts[0].id).status, 204);
  EXPECT_TRUE(inbox(bob).empty());
  EXPECT_EQ(service->counters().node_messages, 1u);
  EXPECT_EQ(service->counters().receipts, 1u);

  // A sender whose mailbox is full (max_pending 5) gets no receipt, and that is counted.
  for (int i = 0; i < 5; ++i) ASSERT_EQ(send(bob, alice, "fill").status, 201);
  ASSERT_EQ(send(alice, bob, "once more").status, 201);
  auto again = inbox(bob);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(call(&bob, "DELETE", "/m/" + again[0].id).status, 204);
  EXPECT_EQ(service->counters().receipts_dropped, 1u);
  EXPECT_EQ(inbox(alice).size(), 5u);
}

TEST_F(NodeMailboxTest, ChannelsListTheirMembersRecords) {
  register_keys(alice);
  register_keys(bob);
  register_keys(carol);
  EXPECT_EQ(call(&bob, "PUT", "/node/channels/alerts").status, 204);
  EXPECT_EQ(call(&carol, "PUT", "/node/channels/alerts").status, 204);
  EXPECT_EQ(call(&carol, "PUT", "/node/channels/alerts").status, 204) << "joining twice is fine";
  EXPECT_EQ(call(&bob, "PUT", "/node/channels/bad name").status, 400);
  json members = json::parse(call(&alice, "GET", "/node/channels/alerts").body);
  ASSERT_EQ(members["nodes"].size(), 2u);
  ChainVerifier roots(ca.roots());
  for (const auto& record : members["nodes"]) {
    std::string error;
    auto keys = verify_node_record(record, "", roots, &error);
    ASSERT_TRUE(keys) << error;
    const TestNode& to = keys->node_id == bob.peer.node_id ? bob : carol;
    ASSERT_EQ(send(alice, to, "to all", "channel=alerts").status, 201);
  }
  ASSERT_EQ(inbox(bob).size(), 1u);
  EXPECT_EQ(inbox(bob)[0].channel, "alerts");
  EXPECT_EQ(inbox(carol).size(), 1u);

  EXPECT_EQ(call(&carol, "DELETE", "/node/channels/alerts").status, 204);
  EXPECT_EQ(call(&carol, "DELETE", "/node/channels/alerts").status, 404);

  // Bounded: 64 channels a node.
  for (int i = 1; i < 64; ++i) ASSERT_EQ(call(&bob, "PUT", "/node/channels/c" + std::to_string(i)).status, 204) << i;
  EXPECT_EQ(call(&bob, "PUT", "/node/channels/one-too-many").status, 429);
  EXPECT_EQ(call(&bob, "PUT", "/node/channels/alerts").status, 204) << "already a member";
  EXPECT_EQ(json::parse(call(&alice, "GET", "/node/channels/alerts").body)["nodes"].size(), 1u);
}

TEST_F(NodeMailboxTest, StoreOfAnOlderReleaseGetsTheNewColumns) {
  std::string path = dir + "/old.db";
  {
    std::string error;
    auto store = PushStore::open(path, &error);
    ASSERT_TRUE(store) << error;
  }
  // Make it look like a store written before node messages: without the columns.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db,
                           "DROP TABLE messages; CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                           "id TEXT NOT NULL UNIQUE, subscription_id TEXT NOT NULL, topic TEXT NOT NULL, urgency "
                           "INTEGER NOT NULL, received_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, body BLOB NOT "
                           "NULL); INSERT INTO messages (id, subscription_id, topic, urgency, received_ms, expires_ms, "
                           "body) VALUES ('m1', 's1', '', 2, 1, 9999999999999, x'01');",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  std::string error;
  auto store = PushStore::open(path, &error);
  ASSERT_TRUE(store) << error;
  auto m = store->message("m1");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->sender, "");
  StoredMessage n{0, "m2", "s1", "", Urgency::kNormal, 1, 9999999999999, {2}, "node", "", "ch"};
  size_t replaced = 0;
  EXPECT_TRUE(store->insert_message(n, &replaced));
  EXPECT_EQ(store->message("m2")->channel, "ch");
}

}  // namespace
}  // namespace ugate::webpush

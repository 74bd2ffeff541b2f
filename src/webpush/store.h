#pragma once
// Durable state of the push service in SQLite: subscriptions and the messages
// waiting for them. A message stays until its subscriber acknowledges it or
// its TTL runs out, so a restart of the gateway loses nothing it accepted.
//
// Used from one thread (the control thread); every call is a short
// transaction on a WAL database. Failures are logged once per call and
// reported as false / nullopt.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/base64.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ugate::webpush {

enum class Urgency : uint8_t { kVeryLow = 0, kLow = 1, kNormal = 2, kHigh = 3 };
std::optional<Urgency> parse_urgency(std::string_view text);
const char* urgency_name(Urgency u);

struct StoredSubscription {
  std::string id;       // the subscription resource (/s/ID): the subscriber's secret
  std::string push_id;  // the push resource (/p/ID): what application servers get
  Bytes p256dh, auth;   // the subscriber's keys, when it registered them (for /publish)
  Bytes vapid_key;      // restricted to this application server key (RFC 8292 section 4), or empty
  int64_t created_ms = 0;
  bool deleted = false;  // unsubscribed: pushes get 410 Gone
};

struct StoredMessage {
  int64_t seq = 0;  // assigned on insert; grows with every message
  std::string id;   // the push message resource (/m/ID)
  std::string subscription_id;
  std::string topic;  // "" for none
  Urgency urgency = Urgency::kNormal;
  int64_t received_ms = 0;
  int64_t expires_ms = 0;
  Bytes body;  // aes128gcm, or empty
  // Node-to-node messages (node_mailbox.cc): who sent it (a node ID, from mTLS),
  // the message a delivery receipt is for, the channel it was published on.
  std::string sender, receipt_for, channel;
};

// A node's mailbox: the subscription its messages go to, and its key record
// (node_keys.h), which senders fetch and verify.
struct StoredNode {
  std::string node_id;
  std::string subscription_id;
  std::string record;  // JSON
  int64_t updated_ms = 0;
};

class PushStore {
 public:
  // ":memory:" for tests. nullptr and *error on failure.
  static std::unique_ptr<PushStore> open(const std::string& path, std::string* error);
  ~PushStore();

  bool add_subscription(const StoredSubscription& s);
  std::optional<StoredSubscription> subscription(const std::string& id);
  std::optional<StoredSubscription> subscription_by_push_id(const std::string& push_id);
  // Marks it deleted and drops its messages; false if unknown or already deleted.
  bool delete_subscription(const std::string& id);
  size_t subscription_count();

  // Stores `m` (m.seq is set). A topic replaces the pending messages of the
  // same subscription with that topic; *replaced says how many.
  bool insert_message(StoredMessage& m, size_t* replaced);
  size_t pending_count(const std::string& subscription_id, int64_t now_ms);
  // Unexpired messages after `after_seq`, oldest first, at least `min_urgency`.
  std::vector<StoredMessage> pending(const std::string& subscription_id, int64_t after_seq, int64_t now_ms,
                                     Urgency min_urgency, size_t limit);
  // Acknowledged (or cancelled): gone. `subscription_id` limits it to one subscriber's messages when set.
  bool delete_message(const std::string& id, const std::string& subscription_id = "");
  size_t delete_expired(int64_t now_ms);
  std::optional<int64_t> next_expiry_ms();
  size_t message_count();
  std::optional<StoredMessage> message(const std::string& id);

  // Node mailboxes and the channels nodes subscribed to.
  bool put_node(const StoredNode& n);
  std::optional<StoredNode> node(const std::string& node_id);
  std::optional<std::string> node_of_subscription(const std::string& subscription_id);
  size_t node_count();
  bool join_channel(const std::string& channel, const std::string& node_id);
  bool leave_channel(const std::string& channel, const std::string& node_id);  // false if not a member
  std::vector<std::string> channel_members(const std::string& channel, size_t limit);
  bool is_member(const std::string& channel, const std::string& node_id);
  size_t channel_count_of(const std::string& node_id);
  size_t member_count(const std::string& channel);

 private:
  explicit PushStore(sqlite3* db) : db_(db) {}
  sqlite3_stmt* prepare(const char* sql);
  bool exec(const char* sql);
  bool migrate();
  void log_error(const char* what);

  sqlite3* db_;
  std::vector<std::pair<const char*, sqlite3_stmt*>> statements_;  // prepared once, by SQL text
};

}  // namespace ugate::webpush

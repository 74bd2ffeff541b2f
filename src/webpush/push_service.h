#pragma once
// The RFC 8030 push service without the HTTP transport: subscriptions,
// accepting push messages (TTL, Urgency, Topic, VAPID restriction), the
// store, the subscribers waiting for messages, and expiry. PushServer
// (push_server.h) parses HTTP and calls it; unit tests call it directly.
//
// Resources (paths on the webpush listener):
//   POST   /subscribe        new subscription: 201, Location /s/ID, Link /p/PUSH
//   POST   /p/PUSH           push a message (RFC 8030 section 5): 201, Location /m/MSG
//   POST   /publish/PUSH     ntfy-style: the body is text, encrypted here to the
//                            subscriber's registered keys
//   GET    /s/ID             the subscriber's messages (long-poll; PushServer)
//   DELETE /m/MSG            acknowledge (RFC 8030 section 6.2)
//   DELETE /s/ID             unsubscribe: later pushes get 410
// Node mailboxes, for clients with a mesh certificate (node_mailbox.cc):
//   PUT    /node/keys        register the caller's signed push keys (node_keys.h)
//   GET    /node/ID          a node's key record, for senders to verify
//   POST   /node/ID          a message encrypted to that node; ?channel=NAME labels it
//   GET    /node/inbox       the caller's messages and delivery receipts (long-poll)
//   PUT|DELETE|GET /node/channels/NAME   join, leave, list a channel's members
// Acknowledging a node's message (DELETE /m/ID, by its receiver only) puts
// a delivery receipt into the sender's mailbox; the acknowledgement's body,
// the receiver's signed receipt (node_receipt.h), is the receipt's data.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/duration.h"
#include "webpush/store.h"
#include "webpush/webpush_config.h"

namespace ugate::webpush {

namespace asio = boost::asio;

// The client's verified mesh certificate: push listeners of a node ask for
// one (browsers and application servers send none). Node mailboxes are keyed by it.
struct PushPeer {
  std::string node_id, spiffe_id, trust_domain;
  Bytes key;                 // the leaf's public key, 65 bytes
  std::vector<Bytes> chain;  // DER, leaf first
};

struct PushRequest {
  std::string method, path, query, host;
  std::string ttl, urgency, topic, content_encoding, authorization;
  std::string body;
  const PushPeer* peer = nullptr;
};

// ?name=value in a query string, "" when absent. No percent-decoding: the
// values we take (numbers, channel names) are plain.
std::string query_value(std::string_view query, std::string_view name);

// ?name=N where N must be a non-negative decimal integer (a wait in seconds,
// a sequence number). Absent: nullopt, and *error is left empty. Present but
// not such a number: nullopt, and *error says why -- "after: not a number"
// (empty, signs, spaces, other characters) or "after: out of range" (negative,
// or above INT64_MAX) -- so that the caller refuses it instead of taking a
// default. A bare `name` without `=` counts as present and empty.
std::optional<int64_t> query_number(std::string_view query, std::string_view name, std::string* error);

struct PushReply {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
};

// Why a request was refused: counted on /metrics.
enum class PushReject : uint8_t {
  kBadRequest, kUnauthorized, kForbidden, kNotFound, kGone, kTooLarge, kTooMany, kUnsupported, kStoreFailed, kCount
};
const char* reject_name(PushReject r);

struct PushCounters {
  uint64_t subscriptions_created = 0, unsubscribed = 0;
  uint64_t accepted = 0, delivered = 0, acked = 0, expired = 0, replaced = 0, dropped_ttl0 = 0;
  uint64_t node_keys = 0, node_messages = 0, receipts = 0;  // registrations, messages between nodes, receipts sent
  uint64_t receipts_dropped = 0;  // the sender's mailbox was full
  uint64_t rejected[static_cast<size_t>(PushReject::kCount)] = {};
  uint64_t connections = 0, tls_failed = 0;
};

// A long-poll waiting for a subscription's messages.
struct PushWaiter {
  explicit PushWaiter(asio::io_context& ctx) : timer(ctx) {}
  asio::steady_timer timer;
  bool notified = false;
};

class PushService {
 public:
  PushService(asio::io_context& ctx, std::unique_ptr<PushStore> store, PushServiceConfig config);
  ~PushService();

  // Every request but the long-poll GET /s/ID.
  PushReply handle(const PushRequest& req);

  // For the long-poll: the subscription (nullopt with the error reply when
  // unknown or gone), its messages, and a waiter woken by the next push.
  std::optional<StoredSubscription> receiver(const std::string& sub_id, PushReply* error);
  std::vector<StoredMessage> pending(const std::string& sub_id, int64_t after_seq, Urgency min_urgency);
  std::shared_ptr<PushWaiter> watch(const std::string& sub_id);
  // GET /node/inbox: the calling node's mailbox (a subscription ID), or nullopt and the error reply.
  std::optional<std::string> node_inbox(const PushRequest& req, PushReply* error);
  void count_delivered(size_t n) { counters_.delivered += n; }

  PushCounters& counters() { return counters_; }
  const PushCounters& counters() const { return counters_; }
  PushStore& store() { return *store_; }
  std::string origin(const PushRequest& req) const;
  static int64_t now_ms();

 private:
  PushReply subscribe(const PushRequest& req);
  PushReply push(const PushRequest& req, const std::string& push_id, bool publish);
  // The checks and the storing every push shares; `sender`/`channel` for node messages.
  PushReply accept(const PushRequest& req, const StoredSubscription& sub, bool publish, std::string sender,
                   std::string channel);
  PushReply acknowledge(const PushRequest& req, const std::string& message_id);
  // node_mailbox.cc
  PushReply handle_node(const PushRequest& req);
  const PushPeer* mesh_peer(const PushRequest& req, PushReply* error);
  PushReply register_node_keys(const PushRequest& req, const PushPeer& peer);
  PushReply send_to_node(const PushRequest& req, const PushPeer& peer, const std::string& node_id);
  PushReply channel(const PushRequest& req, const PushPeer& peer, const std::string& name);
  // `signed_receipt`: what the receiver signed (node_receipt.h), stored as the receipt's data.
  void send_receipt(const StoredMessage& acked, const std::string& by_node, Bytes signed_receipt);
  PushReply refuse(PushReject why, int status, std::string text);
  void notify(const std::string& sub_id);
  void schedule_expiry(int64_t at_ms);
  void on_expiry_timer();

  asio::io_context& ctx_;
  std::unique_ptr<PushStore> store_;
  PushServiceConfig config_;
  PushCounters counters_;
  std::unordered_map<std::string, std::vector<std::weak_ptr<PushWaiter>>> waiters_;
  asio::steady_timer expiry_timer_;
  int64_t expiry_at_ms_ = 0;  // 0: not armed
};

}  // namespace ugate::webpush

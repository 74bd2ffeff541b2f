// Node mailboxes: the push service's endpoints for mesh nodes (see
// push_service.h). A node is known by the certificate it connects with, so
// it needs no capability URL; what it receives is encrypted to keys it
// signed (node_keys.h), which the gateway stores and serves but cannot use.
#include <nlohmann/json.hpp>

#include "crypto/p256.h"
#include "webpush/node_keys.h"
#include "webpush/push_service.h"
#include "webpush/resource_id.h"

namespace ugate::webpush {
namespace {

using nlohmann::json;

constexpr size_t kMaxKeysBody = 1024;
constexpr size_t kMaxChannelMembers = 1000;  // a channel's list fits one reply
constexpr size_t kMaxChannelsPerNode = 64;
constexpr std::string_view kChannelsPrefix = "/node/channels/";

bool valid_channel(std::string_view name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](char c) { return is_b64url_char(c) || c == '.'; });
}

}  // namespace

const PushPeer* PushService::mesh_peer(const PushRequest& req, PushReply* error) {
  if (!req.peer || req.peer->node_id.empty()) {
    *error = refuse(PushReject::kUnauthorized, 401, "node mailboxes need a mesh client certificate");
    return nullptr;
  }
  if (!config_.trust_domain.empty() && req.peer->trust_domain != config_.trust_domain) {
    *error = refuse(PushReject::kForbidden, 403, "certificate of trust domain " + req.peer->trust_domain);
    return nullptr;
  }
  return req.peer;
}

PushReply PushService::handle_node(const PushRequest& req) {
  PushReply error;
  const std::string& m = req.method;
  std::string_view rest = std::string_view(req.path).substr(6);  // after "/node/"
  if (req.path.starts_with(kChannelsPrefix)) {
    const PushPeer* peer = mesh_peer(req, &error);
    if (!peer) return error;
    return channel(req, *peer, req.path.substr(kChannelsPrefix.size()));
  }
  if (rest == "keys") {
    if (m != "PUT") return refuse(PushReject::kBadRequest, 405, "use PUT /node/keys");
    const PushPeer* peer = mesh_peer(req, &error);
    return peer ? register_node_keys(req, *peer) : error;
  }
  if (rest == "inbox") return refuse(PushReject::kBadRequest, 405, "use GET /node/inbox");
  if (!valid_resource_id(rest)) return refuse(PushReject::kNotFound, 404, "not found");
  std::string node_id(rest);
  if (m == "GET") {
    if (!mesh_peer(req, &error)) return error;
    auto node = store_->node(node_id);
    if (!node) return refuse(PushReject::kNotFound, 404, "node " + node_id + " has no mailbox here");
    return {200, node->record + "\n", "application/json"};
  }
  if (m == "POST") {
    const PushPeer* peer = mesh_peer(req, &error);
    return peer ? send_to_node(req, *peer, node_id) : error;
  }
  return refuse(PushReject::kBadRequest, 405, "use GET for a node's keys, POST to send to it");
}

std::optional<std::string> PushService::node_inbox(const PushRequest& req, PushReply* error) {
  const PushPeer* peer = mesh_peer(req, error);
  if (!peer) return std::nullopt;
  auto node = store_->node(peer->node_id);
  if (!node) {
    *error = refuse(PushReject::kNotFound, 404, "register keys first (PUT /node/keys)");
    return std::nullopt;
  }
  return node->subscription_id;
}

// Body: {"p256dh", "auth", "sig"}, the signature by the key of the
// certificate the request came with. The record served to senders carries
// that certificate chain, as TLS proved it.
PushReply PushService::register_node_keys(const PushRequest& req, const PushPeer& peer) {
  if (req.body.size() > kMaxKeysBody) return refuse(PushReject::kTooLarge, 413, "key registration too large");
  json j = json::parse(req.body, nullptr, false);
  auto keys = subscriber_keys_of(j);
  auto sig = base64url_field(j, "sig");
  if (!keys || !sig)
    return refuse(PushReject::kBadRequest, 400, "expected {p256dh, auth, sig}: a P-256 key, 16 octets, ES256");
  auto node_key = crypto::p256_public_from_raw(peer.key);
  if (!node_key || !verify_node_keys(node_key.get(), peer.node_id, *keys, *sig))
    return refuse(PushReject::kBadRequest, 400, "sig does not verify with the client certificate's key");

  auto existing = store_->node(peer.node_id);
  StoredNode node{peer.node_id, existing ? existing->subscription_id : random_resource_id(),
                  node_record(peer.node_id, peer.spiffe_id, *keys, *sig, peer.chain).dump(), now_ms()};
  if (!existing) {
    if (store_->subscription_count() >= config_.max_subscriptions)
      return refuse(PushReject::kTooMany, 429, "too many subscriptions");
    StoredSubscription s{node.subscription_id, random_resource_id()};
    s.created_ms = node.updated_ms;
    if (!store_->add_subscription(s)) return refuse(PushReject::kStoreFailed, 500, "cannot store the mailbox");
  }
  if (!store_->put_node(node)) return refuse(PushReject::kStoreFailed, 500, "cannot store the keys");
  ++counters_.node_keys;
  return {existing ? 200 : 201, json{{"node_id", peer.node_id}, {"inbox", "/node/inbox"}}.dump() + "\n",
          "application/json"};
}

PushReply PushService::send_to_node(const PushRequest& req, const PushPeer& peer, const std::string& node_id) {
  auto node = store_->node(node_id);
  if (!node) return refuse(PushReject::kNotFound, 404, "node " + node_id + " has no mailbox here");
  auto sub = store_->subscription(node->subscription_id);
  if (!sub || sub->deleted) return refuse(PushReject::kGone, 410, "node " + node_id + "'s mailbox is gone");
  std::string channel_name = query_value(req.query, "channel");
  if (!channel_name.empty() && !valid_channel(channel_name))
    return refuse(PushReject::kBadRequest, 400, "channel: 1 to 64 of A-Z a-z 0-9 - _ .");
  if (req.body.empty()) return refuse(PushReject::kBadRequest, 400, "a node message needs an aes128gcm body");
  return accept(req, *sub, false, peer.node_id, std::move(channel_name));
}

PushReply PushService::channel(const PushRequest& req, const PushPeer& peer, const std::string& name) {
  if (!valid_channel(name)) return refuse(PushReject::kBadRequest, 400, "channel: 1 to 64 of A-Z a-z 0-9 - _ .");
  if (req.method == "PUT") {
    if (!store_->node(peer.node_id)) return refuse(PushReject::kNotFound, 404, "register keys first (PUT /node/keys)");
    if (!store_->is_member(name, peer.node_id)) {
      if (store_->channel_count_of(peer.node_id) >= kMaxChannelsPerNode)
        return refuse(PushReject::kTooMany, 429, "a node joins at most 64 channels");
      if (store_->member_count(name) >= kMaxChannelMembers)
        return refuse(PushReject::kTooMany, 429, "channel " + name + " has 1000 members already");
    }
    if (!store_->join_channel(name, peer.node_id)) return refuse(PushReject::kStoreFailed, 500, "cannot store it");
    return {204};
  }
  if (req.method == "DELETE") {
    if (!store_->leave_channel(name, peer.node_id)) return refuse(PushReject::kNotFound, 404, "not a member");
    return {204};
  }
  if (req.method != "GET") return refuse(PushReject::kBadRequest, 405, "use PUT to join, DELETE to leave, GET to list");
  json nodes = json::array();
  for (const std::string& id : store_->channel_members(name, kMaxChannelMembers)) {
    if (auto node = store_->node(id)) nodes.push_back(json::parse(node->record, nullptr, false));
  }
  return {200, json{{"channel", name}, {"nodes", nodes}}.dump() + "\n", "application/json"};
}

// The receipt is a message in the sender's mailbox: which message,
// acknowledged by which node, and as data what that node signed (the gateway
// cannot check it: the message ID it names is inside the encryption). A
// sender without a mailbox gets none.
void PushService::send_receipt(const StoredMessage& acked, const std::string& by_node, Bytes signed_receipt) {
  auto sender = store_->node(acked.sender);
  if (!sender) return;
  int64_t now = now_ms();
  if (store_->pending_count(sender->subscription_id, now) >= config_.max_pending) {
    ++counters_.receipts_dropped;
    return;
  }
  StoredMessage receipt{0, random_resource_id(), sender->subscription_id, "", Urgency::kNormal, now,
                        now + config_.default_ttl.count(), std::move(signed_receipt), by_node, acked.id,
                        acked.channel};
  size_t replaced = 0;
  if (!store_->insert_message(receipt, &replaced)) return;
  ++counters_.receipts;
  schedule_expiry(receipt.expires_ms);
  notify(sender->subscription_id);
}

}  // namespace ugate::webpush

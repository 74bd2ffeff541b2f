#pragma once
// A node's push keys, bound to its mesh identity: node-to-node messages are
// Web Push messages (RFC 8291) encrypted to a key the receiving node made
// for this (push-key.json in its state dir, never its TLS key), and the node
// signs that key with its certificate's key. The gateway hands out the
// record {node_id, spiffe_id, p256dh, auth, sig, chain}; a sender verifies
// the chain against its own mesh roots, that it names the node it asked
// for, and the signature: a gateway that swapped the keys would be caught,
// so it relays messages it cannot read.
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "identity/peer_chain.h"
#include "webpush/message.h"

namespace ugate::webpush {

// A base64url string field of a JSON object, decoded; nullopt when absent,
// not a string or not base64url.
std::optional<Bytes> base64url_field(const nlohmann::json& j, const char* name);
// {"p256dh", "auth"} (base64url) as keys to encrypt to: a P-256 point and a
// 16-octet secret; nullopt otherwise. Subscriptions and node key records use it.
std::optional<SubscriberKeys> subscriber_keys_of(const nlohmann::json& j);

// A certificate chain (DER, leaf first) as records and envelopes carry it:
// a JSON array of base64url strings. chain_of: nullopt unless a non-empty such array.
nlohmann::json chain_json(const std::vector<Bytes>& chain);
std::optional<std::vector<Bytes>> chain_of(const nlohmann::json& j);

// The bytes a node signs: a label, its node ID, p256dh and auth.
Bytes node_keys_signed_data(std::string_view node_id, const SubscriberKeys& keys);
// ES256 (raw r||s) by the node's key; empty if signing fails.
Bytes sign_node_keys(EVP_PKEY* node_key, std::string_view node_id, const SubscriberKeys& keys);
bool verify_node_keys(EVP_PKEY* node_public, std::string_view node_id, const SubscriberKeys& keys,
                      std::span<const uint8_t> signature);

// The record as the gateway serves it.
nlohmann::json node_record(std::string_view node_id, std::string_view spiffe_id, const SubscriberKeys& keys,
                           std::span<const uint8_t> signature, const std::vector<Bytes>& chain);

struct VerifiedNodeKeys {
  std::string node_id, spiffe_id;
  SubscriberKeys keys;
  ossl::PKey node_key;  // the certificate's public key: the node's receipts are signed with it
};
// The keys of a record after every check; on failure *error says which one
// failed. `want_node_id` "" accepts any node (a channel's subscribers).
std::optional<VerifiedNodeKeys> verify_node_record(const nlohmann::json& record, std::string_view want_node_id,
                                                   const ChainVerifier& roots, std::string* error);

}  // namespace ugate::webpush

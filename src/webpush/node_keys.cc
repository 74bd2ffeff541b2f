#include "webpush/node_keys.h"

#include <nlohmann/json.hpp>

namespace ugate::webpush {
namespace {

constexpr std::string_view kLabel = "ugate node push keys v1\n";

}  // namespace

std::optional<Bytes> base64url_field(const nlohmann::json& j, const char* name) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return base64url_decode(it->get_ref<const std::string&>());
}

std::optional<SubscriberKeys> subscriber_keys_of(const nlohmann::json& j) {
  auto p256dh = base64url_field(j, "p256dh");
  auto auth = base64url_field(j, "auth");
  if (!p256dh || !auth || auth->size() != kAuthSecretSize || !crypto::p256_public_from_raw(*p256dh))
    return std::nullopt;
  return SubscriberKeys{std::move(*p256dh), std::move(*auth)};
}

nlohmann::json chain_json(const std::vector<Bytes>& chain) {
  nlohmann::json certs = nlohmann::json::array();
  for (const Bytes& der : chain) certs.push_back(base64url_encode(der));
  return certs;
}

std::optional<std::vector<Bytes>> chain_of(const nlohmann::json& j) {
  if (!j.is_array() || j.empty()) return std::nullopt;
  std::vector<Bytes> chain;
  for (const auto& c : j) {
    auto der = c.is_string() ? base64url_decode(c.get_ref<const std::string&>()) : std::nullopt;
    if (!der) return std::nullopt;
    chain.push_back(std::move(*der));
  }
  return chain;
}

Bytes node_keys_signed_data(std::string_view node_id, const SubscriberKeys& keys) {
  Bytes data(kLabel.begin(), kLabel.end());
  data.insert(data.end(), node_id.begin(), node_id.end());
  data.push_back('\n');
  data.insert(data.end(), keys.p256dh.begin(), keys.p256dh.end());
  data.insert(data.end(), keys.auth.begin(), keys.auth.end());
  return data;
}

Bytes sign_node_keys(EVP_PKEY* node_key, std::string_view node_id, const SubscriberKeys& keys) {
  auto sig = crypto::es256_sign(node_key, node_keys_signed_data(node_id, keys));
  return sig ? Bytes(sig->begin(), sig->end()) : Bytes();
}

bool verify_node_keys(EVP_PKEY* node_public, std::string_view node_id, const SubscriberKeys& keys,
                      std::span<const uint8_t> signature) {
  return signature.size() == crypto::kEs256SignatureSize &&
         crypto::es256_verify(node_public, node_keys_signed_data(node_id, keys), signature);
}

nlohmann::json node_record(std::string_view node_id, std::string_view spiffe_id, const SubscriberKeys& keys,
                           std::span<const uint8_t> signature, const std::vector<Bytes>& chain) {
  return {{"node_id", node_id},
          {"spiffe_id", spiffe_id},
          {"p256dh", base64url_encode(keys.p256dh)},
          {"auth", base64url_encode(keys.auth)},
          {"sig", base64url_encode(signature)},
          {"chain", chain_json(chain)}};
}

std::optional<VerifiedNodeKeys> verify_node_record(const nlohmann::json& record, std::string_view want_node_id,
                                                   const ChainVerifier& roots, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<VerifiedNodeKeys> {
    *error = std::move(why);
    return std::nullopt;
  };
  if (!record.is_object()) return fail("the key record is not a JSON object");
  auto keys = subscriber_keys_of(record);
  auto sig = base64url_field(record, "sig");
  auto chain_field = record.find("chain");
  if (!sig || chain_field == record.end() || !chain_field->is_array() || chain_field->empty())
    return fail("the key record lacks sig or chain");
  if (!keys) return fail("the key record's p256dh or auth is missing or malformed");
  auto chain = chain_of(*chain_field);
  if (!chain) return fail("the key record's chain is not base64url");
  auto peer = roots.verify(*chain);
  if (!peer) return fail("the key record's chain: " + std::string(to_string(peer.error())));
  if (!want_node_id.empty() && peer->node_id != want_node_id)
    return fail("the key record is for node " + peer->node_id + ", not " + std::string(want_node_id));
  if (!verify_node_keys(peer->key.get(), peer->node_id, *keys, *sig))
    return fail("the key record's signature does not verify: the keys are not the node's");
  return VerifiedNodeKeys{peer->node_id, peer->spiffe_id, std::move(*keys), std::move(peer->key)};
}

}  // namespace ugate::webpush

#include "webpush/node_receipt.h"

#include <nlohmann/json.hpp>

#include "webpush/node_keys.h"

namespace ugate::webpush {
namespace {

constexpr std::string_view kLabel = "ugate node receipt v1\n";

}  // namespace

Bytes receipt_signed_data(std::string_view receiver, std::string_view sender, std::string_view message_id) {
  Bytes data(kLabel.begin(), kLabel.end());
  data.insert(data.end(), receiver.begin(), receiver.end());
  data.push_back('\n');
  data.insert(data.end(), sender.begin(), sender.end());
  data.push_back('\n');
  data.insert(data.end(), message_id.begin(), message_id.end());
  return data;
}

std::string sign_receipt(EVP_PKEY* receiver_key, std::string_view receiver, std::string_view sender,
                         std::string_view message_id) {
  auto sig = crypto::es256_sign(receiver_key, receipt_signed_data(receiver, sender, message_id));
  if (!sig) return "";
  return nlohmann::json{{"id", message_id}, {"sig", base64url_encode(*sig)}}.dump();
}

bool verify_receipt(std::span<const uint8_t> body, EVP_PKEY* receiver_public, std::string_view receiver,
                    std::string_view sender, std::string_view message_id, std::string* error) {
  if (body.empty()) {
    *error = "the receipt is not signed by the receiver: only the gateway says it was delivered";
    return false;
  }
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  auto sig = base64url_field(j, "sig");
  auto id = j.is_object() ? j.find("id") : j.end();
  if (!sig || id == j.end() || !id->is_string()) {
    *error = "the receipt is malformed";
    return false;
  }
  if (*id != message_id) {
    *error = "the receipt is for another message (" + id->get<std::string>() + ")";
    return false;
  }
  if (sig->size() != crypto::kEs256SignatureSize ||
      !crypto::es256_verify(receiver_public, receipt_signed_data(receiver, sender, message_id), *sig)) {
    *error = "the receipt's signature is not " + std::string(receiver) + "'s";
    return false;
  }
  return true;
}

}  // namespace ugate::webpush

#include "webpush/message.h"

namespace ugate::webpush {

SubscriberSecret SubscriberSecret::generate() {
  SubscriberSecret s{crypto::p256_generate(), Bytes(kAuthSecretSize)};
  if (!crypto::random_bytes(s.auth)) s.key.reset();
  return s;
}

std::optional<crypto::Sha256> message_ikm(EVP_PKEY* my_key, EVP_PKEY* peer_key, std::span<const uint8_t> ua_public,
                                          std::span<const uint8_t> as_public, std::span<const uint8_t> auth) {
  auto ecdh = crypto::p256_ecdh(my_key, peer_key);
  if (!ecdh) return std::nullopt;
  auto prk = crypto::hmac_sha256(auth, *ecdh);
  // key_info = "WebPush: info" || 0x00 || ua_public || as_public, then HKDF-Expand's counter 0x01.
  static constexpr std::string_view kInfo{"WebPush: info\0", 14};
  Bytes info(kInfo.begin(), kInfo.end());
  info.insert(info.end(), ua_public.begin(), ua_public.end());
  info.insert(info.end(), as_public.begin(), as_public.end());
  info.push_back(0x01);
  return crypto::hmac_sha256(prk, info);
}

Result<Bytes, EceError> encrypt_message(std::span<const uint8_t> plaintext, const SubscriberKeys& to,
                                        const MessageOptions& o) {
  if (to.auth.size() != kAuthSecretSize) return EceError::kBadKey;
  if (kMessageHeaderSize + plaintext.size() + o.padding + kTagSize + 1 > o.max_body) return EceError::kTooLarge;
  crypto::Pkey peer = crypto::p256_public_from_raw(to.p256dh);
  if (!peer) return EceError::kBadKey;
  crypto::Pkey fresh;
  EVP_PKEY* sender = o.sender_key;
  if (!sender) {
    fresh = crypto::p256_generate();
    sender = fresh.get();
  }
  Bytes as_public = crypto::p256_public_raw(sender);
  if (as_public.empty()) return EceError::kCrypto;
  auto ikm = message_ikm(sender, peer.get(), to.p256dh, as_public, to.auth);
  if (!ikm) return EceError::kCrypto;

  EceParams params;
  if (o.salt) params.salt = *o.salt;
  else if (!crypto::random_bytes(params.salt)) return EceError::kCrypto;
  params.keyid = as_public;
  params.padding = o.padding;
  // One record holding everything (RFC 8291 section 4): rs covers it, at least 4096 as usual.
  params.record_size = static_cast<uint32_t>(std::max<size_t>(kDefaultRecordSize, plaintext.size() + o.padding + kTagSize + 1));
  return ece_encrypt(plaintext, *ikm, params);
}

Result<Bytes, EceError> decrypt_message(std::span<const uint8_t> body, const SubscriberSecret& me) {
  auto header = parse_ece_header(body);
  if (!header) return header.error();
  if (me.auth.size() != kAuthSecretSize || !me.key) return EceError::kBadKey;
  crypto::Pkey sender = crypto::p256_public_from_raw(header->keyid);
  if (!sender) return EceError::kBadKeyId;
  Bytes ua_public = crypto::p256_public_raw(me.key.get());
  auto ikm = message_ikm(me.key.get(), sender.get(), ua_public, header->keyid, me.auth);
  if (!ikm) return EceError::kCrypto;
  return ece_decrypt(body, *header, *ikm);
}

}  // namespace ugate::webpush

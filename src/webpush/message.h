#pragma once
// RFC 8291 Web Push message encryption: aes128gcm (RFC 8188) keyed by ECDH
// between the application server's one-time P-256 key and the user agent's
// subscription key, mixed with the subscription's 16-octet auth secret.
#include <openssl/evp.h>

#include <array>
#include <span>

#include "crypto/p256.h"
#include "webpush/ece.h"

namespace ugate::webpush {

inline constexpr size_t kAuthSecretSize = 16;
inline constexpr size_t kMessageHeaderSize = kHeaderFixedSize + crypto::kP256PublicSize;  // 86
// A push service must accept 4096-octet bodies; one record of that holds 3993 octets of text.
inline constexpr size_t kMaxBodySize = 4096;
inline constexpr size_t kMaxPlaintextSize = kMaxBodySize - kMessageHeaderSize - kTagSize - 1;

// What a subscriber hands out (PushSubscription.keys): p256dh and auth.
struct SubscriberKeys {
  Bytes p256dh;  // 65-octet uncompressed point
  Bytes auth;    // 16 octets
};

// The subscriber's own side: its key pair and auth secret.
struct SubscriberSecret {
  crypto::Pkey key;  // P-256 pair
  Bytes auth;
  SubscriberKeys public_keys() const { return {crypto::p256_public_raw(key.get()), auth}; }
  static SubscriberSecret generate();  // key null if OpenSSL fails
};

struct MessageOptions {
  size_t padding = 0;
  size_t max_body = kMaxBodySize;  // kTooLarge above this (one record, as RFC 8291 asks)
  // Fixed sender key and salt, for test vectors only; fresh random ones otherwise.
  EVP_PKEY* sender_key = nullptr;
  const std::array<uint8_t, kSaltSize>* salt = nullptr;
};

Result<Bytes, EceError> encrypt_message(std::span<const uint8_t> plaintext, const SubscriberKeys& to,
                                        const MessageOptions& options = {});
Result<Bytes, EceError> decrypt_message(std::span<const uint8_t> body, const SubscriberSecret& me);

// The RFC 8291 input keying material (exposed for the test vectors).
std::optional<crypto::Sha256> message_ikm(EVP_PKEY* my_key, EVP_PKEY* peer_key, std::span<const uint8_t> ua_public,
                                          std::span<const uint8_t> as_public, std::span<const uint8_t> auth);

}  // namespace ugate::webpush

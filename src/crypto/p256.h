#pragma once
// EC P-256 with OpenSSL 3 EVP: keys as the raw bytes Web Push and JWTs carry
// (65-byte uncompressed point, 32-byte scalar), ECDH, and ES256 signatures
// in the raw r||s form of JWS (RFC 7518 section 3.4), plus HMAC-SHA-256.
// Every function reports failure by its return value; none throws.
#include <openssl/evp.h>

#include <array>
#include <memory>
#include <optional>
#include <span>

#include "base/base64.h"

namespace ugate::crypto {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

inline constexpr size_t kP256PublicSize = 65;   // 0x04 || X || Y
inline constexpr size_t kP256PrivateSize = 32;
inline constexpr size_t kEs256SignatureSize = 64;  // r || s
using Sha256 = std::array<uint8_t, 32>;

// A fresh key pair; null only if OpenSSL fails.
Pkey p256_generate();
// Null unless `point` is an uncompressed point on the curve.
Pkey p256_public_from_raw(std::span<const uint8_t> point);
// The key pair of a private scalar (its public point is computed); null
// unless 0 < scalar < n.
Pkey p256_private_from_raw(std::span<const uint8_t> scalar);
// True for a P-256 key (public or pair).
bool is_p256(EVP_PKEY* key);

Bytes p256_public_raw(EVP_PKEY* key);   // 65 bytes, empty on failure
Bytes p256_private_raw(EVP_PKEY* key);  // 32 bytes, empty when `key` has no private part

// The shared secret (the X coordinate) of ECDH between `mine` (a pair) and `peer`.
// `peer` must come from p256_public_from_raw or p256_generate: they guarantee
// a point on the curve, and P-256 has cofactor 1, so OpenSSL's own peer check
// (a full scalar multiplication, half the cost of decrypting) is skipped.
std::optional<Sha256> p256_ecdh(EVP_PKEY* mine, EVP_PKEY* peer);

// ES256: ECDSA over SHA-256 of `data`, raw r||s.
std::optional<std::array<uint8_t, kEs256SignatureSize>> es256_sign(EVP_PKEY* key, std::span<const uint8_t> data);
bool es256_verify(EVP_PKEY* key, std::span<const uint8_t> data, std::span<const uint8_t> signature);

Sha256 hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data);

// Cryptographically random bytes; false only if the RNG fails.
bool random_bytes(std::span<uint8_t> out);

}  // namespace ugate::crypto

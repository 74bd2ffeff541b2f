#pragma once
// Fixed P-256 keys for the fuzz targets that check signatures, so that the
// seeds in tests/fuzz/corpus/ can carry tokens these keys signed (written by
// tests/fuzz/make_seeds.py).
#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/p256.h"

namespace ugate::fuzz {

// The private scalars, hex (make_seeds.py has the same).
inline constexpr const char* kIssuerScalar = "926a99c04a983588945a9f782de766e9a951aa827793d488b0d5c91462c4eec2";
inline constexpr const char* kStrangerScalar = "6c53c295c60dacdc67d5c6436ebae0134903dbb9d1a77f0b7166adaa18cf3dc4";

inline Bytes from_hex(std::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

// The key pair of a scalar, and its public half alone (what a verifier holds).
inline crypto::Pkey key_pair(const char* scalar) { return crypto::p256_private_from_raw(from_hex(scalar)); }
inline crypto::Pkey public_key(const char* scalar) {
  return crypto::p256_public_from_raw(crypto::p256_public_raw(key_pair(scalar).get()));
}

}  // namespace ugate::fuzz

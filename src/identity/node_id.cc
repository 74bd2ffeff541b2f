#include "identity/node_id.h"

#include <openssl/sha.h>

#include "crypto/p256.h"

namespace ugate {

std::string base32_lower(std::span<const uint8_t> data) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out;
  out.reserve((data.size() * 8 + 4) / 5);
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : data) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(acc >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (5 - bits)) & 31];
  return out;
}

std::string node_id_of(EVP_PKEY* key) {
  Bytes pub = crypto::p256_public_raw(key);
  if (pub.empty()) return "";
  std::array<uint8_t, SHA256_DIGEST_LENGTH> digest{};
  SHA256(pub.data(), pub.size(), digest.data());
  return base32_lower(digest);
}

boost::asio::ip::address_v6 vip6_of(EVP_PKEY* key) {
  Bytes pub = crypto::p256_public_raw(key);
  boost::asio::ip::address_v6::bytes_type bytes{};
  if (pub.empty()) return boost::asio::ip::address_v6(bytes);
  bytes[0] = 0xfd;
  std::copy(pub.end() - 8, pub.end(), bytes.begin() + 8);
  return boost::asio::ip::address_v6(bytes);
}

}  // namespace ugate

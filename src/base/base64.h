#pragma once
// Base64url (RFC 4648 section 5), the encoding of JWTs, Web Push keys and
// VAPID headers. Encoding never pads; decoding accepts both alphabets and
// optional padding, since keys pasted from browsers and tools come in either.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ugate {

using Bytes = std::vector<uint8_t>;

std::string base64url_encode(std::span<const uint8_t> bytes);
inline std::string base64url_encode(std::string_view text) {
  return base64url_encode(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

// nullopt on a character outside the alphabets, a length no encoding has,
// or padding anywhere but the end.
std::optional<Bytes> base64url_decode(std::string_view text);

inline std::string_view as_text(std::span<const uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}
inline std::span<const uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

}  // namespace ugate

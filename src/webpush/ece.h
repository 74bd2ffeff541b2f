#pragma once
// RFC 8188 "aes128gcm" Encrypted Content-Encoding: a header (salt, record
// size, key id) and records of AES-128-GCM, each ending in a delimiter
// (0x01, or 0x02 for the last record) and optional zero padding.
//
// Sans-I/O and exception-free: bad input gives an EceError, never a crash
// (tests/fuzz/webpush_fuzz.cc feeds it garbage).
#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/base64.h"
#include "base/result.h"

namespace ugate::webpush {

inline constexpr size_t kSaltSize = 16;
inline constexpr size_t kHeaderFixedSize = 21;  // salt, rs (4), idlen (1)
inline constexpr size_t kTagSize = 16;
inline constexpr uint32_t kMinRecordSize = kTagSize + 2;  // tag, delimiter and one octet of content or padding
inline constexpr uint32_t kDefaultRecordSize = 4096;

enum class EceError : uint8_t {
  kTruncatedHeader = 1,  // fewer octets than the header says
  kBadRecordSize,        // rs below 18
  kBadKeyId,             // RFC 8291: the key id must be the sender's P-256 public key
  kTruncated,            // the content stops after a non-last record, or is empty
  kShortRecord,          // a record too short to hold a tag and a delimiter
  kDecryptFailed,        // the authentication tag does not match (wrong key, corrupted)
  kBadPadding,           // no delimiter, or the wrong one for the record's place
  kTooLarge,             // the plaintext does not fit in the size asked for
  kBadKey,               // a key or secret of the wrong size or not on the curve
  kCrypto,               // OpenSSL failed (not caused by the input)
};
std::string_view to_string(EceError e);

struct EceHeader {
  std::array<uint8_t, kSaltSize> salt{};
  uint32_t record_size = 0;
  std::span<const uint8_t> keyid;  // points into the parsed bytes
  size_t size = 0;                 // header octets, where the records start
};

Result<EceHeader, EceError> parse_ece_header(std::span<const uint8_t> body);

// The content-encryption key and base nonce for a salt and input keying material.
struct EceKey {
  std::array<uint8_t, 16> cek{};
  std::array<uint8_t, 12> nonce{};
};
EceKey derive_ece_key(std::span<const uint8_t, kSaltSize> salt, std::span<const uint8_t> ikm);

struct EceParams {
  std::array<uint8_t, kSaltSize> salt{};  // must be random and fresh per message
  uint32_t record_size = kDefaultRecordSize;
  std::span<const uint8_t> keyid;  // up to 255 octets
  size_t padding = 0;              // zero octets added, spread from the first record on
};

// header || records.
Result<Bytes, EceError> ece_encrypt(std::span<const uint8_t> plaintext, std::span<const uint8_t> ikm,
                                    const EceParams& params);
// Decrypts the records after `header` (already parsed from `body`).
Result<Bytes, EceError> ece_decrypt(std::span<const uint8_t> body, const EceHeader& header,
                                    std::span<const uint8_t> ikm);
Result<Bytes, EceError> ece_decrypt(std::span<const uint8_t> body, std::span<const uint8_t> ikm);

}  // namespace ugate::webpush

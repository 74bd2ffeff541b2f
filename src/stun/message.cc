#include "stun/message.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

namespace ugate::stun {
namespace {

constexpr size_t kSha1Size = 20;
constexpr size_t kSha256Size = 32;

uint16_t get16(std::span<const uint8_t> b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
uint32_t get32(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint32_t>(b[at]) << 24 | static_cast<uint32_t>(b[at + 1]) << 16 |
         static_cast<uint32_t>(b[at + 2]) << 8 | b[at + 3];
}
void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v));
}
size_t padded(size_t n) { return (n + 3) & ~size_t{3}; }

// The bytes an XOR'd address is XOR'd with: the cookie, then the transaction ID.
std::array<uint8_t, 16> xor_mask(const TransactionId& transaction) {
  std::array<uint8_t, 16> mask{0x21, 0x12, 0xA4, 0x42};
  std::copy(transaction.begin(), transaction.end(), mask.begin() + 4);
  return mask;
}

// HMAC over `prefix` (the message up to the integrity attribute) with the
// header's length field saying the message ends after that attribute.
std::vector<uint8_t> integrity_over(std::span<const uint8_t> prefix, size_t value_size, std::span<const uint8_t> key,
                                    bool sha256) {
  std::vector<uint8_t> copy(prefix.begin(), prefix.end());
  size_t length = prefix.size() - kHeaderSize + 4 + value_size;
  copy[2] = static_cast<uint8_t>(length >> 8);
  copy[3] = static_cast<uint8_t>(length);
  std::vector<uint8_t> mac(EVP_MAX_MD_SIZE);
  unsigned int mac_len = 0;
  if (!HMAC(sha256 ? EVP_sha256() : EVP_sha1(), key.data(), static_cast<int>(key.size()), copy.data(), copy.size(),
            mac.data(), &mac_len))
    mac_len = 0;
  mac.resize(mac_len);
  return mac;
}

}  // namespace

std::string_view to_string(Error e) {
  switch (e) {
    case Error::kNeedMore: return "incomplete message";
    case Error::kNotStun: return "not a STUN message";
    case Error::kLengthMismatch: return "length field disagrees with the datagram";
    case Error::kBadAttribute: return "attribute runs past the end of the message";
    case Error::kAfterFingerprint: return "attribute after FINGERPRINT";
    case Error::kBadFingerprint: return "wrong FINGERPRINT";
    case Error::kBadAddress: return "malformed address attribute";
    case Error::kCount: break;
  }
  return "unknown error";
}

uint16_t message_type(uint16_t method, Class cls) {
  auto c = static_cast<uint16_t>(cls);
  return static_cast<uint16_t>((method & 0x000F) | (method & 0x0070) << 1 | (method & 0x0F80) << 2 | (c & 1) << 4 |
                               (c & 2) << 7);
}

uint16_t method_of(std::span<const uint8_t> header) {
  uint16_t t = get16(header, 0);
  return static_cast<uint16_t>((t & 0x000F) | (t & 0x00E0) >> 1 | (t & 0x3E00) >> 2);
}

const Attribute* Message::find(uint16_t type) const {
  for (const auto& a : attributes)
    if (a.type == type) return &a;
  return nullptr;
}

Result<Frame, Error> next_frame(std::span<const uint8_t> stream) {
  if (stream.empty()) return Error::kNeedMore;
  uint8_t top = stream[0] >> 6;
  if (top == 1) {  // ChannelData: channel numbers 0x4000-0x7FFF (RFC 5766's), 4-byte header, padded on streams
    if (stream.size() < 4) return Error::kNeedMore;
    return Frame{FrameKind::kChannelData, 4 + padded(get16(stream, 2))};
  }
  if (top != 0) return Error::kNotStun;
  if (stream.size() >= 8 && get32(stream, 4) != kMagicCookie) return Error::kNotStun;
  if (stream.size() >= 4 && get16(stream, 2) % 4 != 0) return Error::kNotStun;
  if (stream.size() < kHeaderSize) return Error::kNeedMore;
  return Frame{FrameKind::kStun, kHeaderSize + get16(stream, 2)};
}

Result<Message, Error> parse(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderSize || (bytes[0] >> 6) != 0 || get32(bytes, 4) != kMagicCookie) return Error::kNotStun;
  size_t length = get16(bytes, 2);
  if (length % 4 != 0) return Error::kNotStun;
  if (kHeaderSize + length != bytes.size()) return Error::kLengthMismatch;

  Message m;
  uint16_t type = get16(bytes, 0);
  m.method = static_cast<uint16_t>((type & 0x000F) | (type & 0x00E0) >> 1 | (type & 0x3E00) >> 2);
  m.cls = static_cast<Class>((type >> 4 & 1) | (type >> 7 & 2));
  std::copy_n(bytes.begin() + 8, 12, m.transaction.begin());
  m.bytes = bytes;

  bool integrity = false, integrity_sha256 = false, fingerprint = false;
  for (size_t at = kHeaderSize; at < bytes.size();) {
    uint16_t attr_type = get16(bytes, at);
    size_t value_size = get16(bytes, at + 2);
    if (at + 4 + padded(value_size) > bytes.size()) return Error::kBadAttribute;
    if (fingerprint) return Error::kAfterFingerprint;
    Attribute a{attr_type, bytes.subspan(at + 4, value_size), at};
    at += 4 + padded(value_size);
    if (attr_type == attr::kFingerprint) {
      fingerprint = true;  // checked once it is known to be last
    } else if (integrity_sha256 || (integrity && attr_type != attr::kMessageIntegritySha256)) {
      continue;  // after the integrity attributes only FINGERPRINT counts
    }
    integrity = integrity || attr_type == attr::kMessageIntegrity;
    integrity_sha256 = integrity_sha256 || attr_type == attr::kMessageIntegritySha256;
    m.attributes.push_back(a);
  }
  if (fingerprint) {
    const Attribute& fp = m.attributes.back();
    if (fp.value.size() != 4 || (crc32(bytes.first(fp.offset)) ^ kFingerprintXor) != get32(fp.value, 0))
      return Error::kBadFingerprint;
  }
  return m;
}

Result<Address, Error> read_address(std::span<const uint8_t> value) {
  if (value.size() < 4) return Error::kBadAddress;
  Address a;
  a.family = value[1];
  if ((a.family != 1 && a.family != 2) || value.size() != 4 + a.ip_size()) return Error::kBadAddress;
  a.port = get16(value, 2);
  std::copy_n(value.begin() + 4, a.ip_size(), a.ip.begin());
  return a;
}

Result<Address, Error> read_xor_address(std::span<const uint8_t> value, const TransactionId& transaction) {
  auto a = read_address(value);
  if (!a) return a;
  auto mask = xor_mask(transaction);
  a->port ^= static_cast<uint16_t>(kMagicCookie >> 16);
  for (size_t i = 0; i < a->ip_size(); ++i) a->ip[i] ^= mask[i];
  return a;
}

bool check_integrity(const Message& m, std::span<const uint8_t> key, bool sha256) {
  const Attribute* a = m.find(sha256 ? attr::kMessageIntegritySha256 : attr::kMessageIntegrity);
  if (!a) return false;
  size_t n = a->value.size();
  if (sha256 ? (n < 16 || n > kSha256Size || n % 4 != 0) : n != kSha1Size) return false;
  auto mac = integrity_over(m.bytes.first(a->offset), n, key, sha256);
  return mac.size() >= n && CRYPTO_memcmp(mac.data(), a->value.data(), n) == 0;
}

std::array<uint8_t, 16> long_term_key(std::string_view username, std::string_view realm, std::string_view password) {
  std::string text = std::string(username) + ":" + std::string(realm) + ":" + std::string(password);
  std::array<uint8_t, 16> key{};
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), key.data(), &len, EVP_md5(), nullptr);
  OPENSSL_cleanse(text.data(), text.size());
  return key;
}

uint32_t crc32(std::span<const uint8_t> data) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// ---- Builder

Builder::Builder(uint16_t method, Class cls, const TransactionId& transaction) {
  out_.reserve(128);
  put16(out_, message_type(method, cls));
  put16(out_, 0);
  put32(out_, kMagicCookie);
  out_.insert(out_.end(), transaction.begin(), transaction.end());
}

void Builder::set_length(size_t body) {
  out_[2] = static_cast<uint8_t>(body >> 8);
  out_[3] = static_cast<uint8_t>(body);
}

void Builder::add(uint16_t type, std::span<const uint8_t> value, uint8_t pad) {
  put16(out_, type);
  put16(out_, static_cast<uint16_t>(value.size()));
  out_.insert(out_.end(), value.begin(), value.end());
  out_.resize(padded(out_.size()), pad);
  set_length(out_.size() - kHeaderSize);
}

void Builder::add_string(uint16_t type, std::string_view value) {
  add(type, {reinterpret_cast<const uint8_t*>(value.data()), value.size()});
}

void Builder::add_u32(uint16_t type, uint32_t value) {
  std::vector<uint8_t> v;
  put32(v, value);
  add(type, v);
}

void Builder::add_address(uint16_t type, const Address& a) {
  std::vector<uint8_t> v{0, a.family};
  put16(v, a.port);
  v.insert(v.end(), a.ip.begin(), a.ip.begin() + static_cast<std::ptrdiff_t>(a.ip_size()));
  add(type, v);
}

void Builder::add_xor_address(uint16_t type, const Address& a) {
  Address x = a;
  x.port ^= static_cast<uint16_t>(kMagicCookie >> 16);
  auto mask = xor_mask(TransactionId{});
  std::copy_n(out_.begin() + 8, 12, mask.begin() + 4);  // this message's transaction ID
  for (size_t i = 0; i < x.ip_size(); ++i) x.ip[i] ^= mask[i];
  add_address(type, x);
}

void Builder::add_error(int code, std::string_view reason) {
  std::vector<uint8_t> v{0, 0, static_cast<uint8_t>(code / 100), static_cast<uint8_t>(code % 100)};
  v.insert(v.end(), reason.begin(), reason.end());
  add(attr::kErrorCode, v);
}

void Builder::add_unknown_attributes(std::span<const uint16_t> types) {
  std::vector<uint8_t> v;
  for (uint16_t t : types) put16(v, t);
  add(attr::kUnknownAttributes, v);
}

void Builder::add_integrity(std::span<const uint8_t> key) {
  add(attr::kMessageIntegrity, integrity_over(out_, kSha1Size, key, false));
}

void Builder::add_integrity_sha256(std::span<const uint8_t> key) {
  add(attr::kMessageIntegritySha256, integrity_over(out_, kSha256Size, key, true));
}

void Builder::add_fingerprint() {
  set_length(out_.size() - kHeaderSize + 8);
  add_u32(attr::kFingerprint, crc32(out_) ^ kFingerprintXor);
}

}  // namespace ugate::stun

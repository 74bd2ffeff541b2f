#include "discovery/announce.h"

#include <cstring>

namespace ugate::discovery {
namespace {

constexpr uint8_t kMagic[4] = {'U', 'G', 'A', 'N'};
constexpr uint8_t kVersion = 1;

void put(Bytes& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// Reads fields off the front of a datagram; any short read marks it truncated.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> in) : in_(in) {}
  bool ok() const { return ok_; }
  size_t offset() const { return off_; }
  size_t left() const { return in_.size() - off_; }
  uint64_t uint(int bytes) {
    if (!take(bytes)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | in_[off_ - bytes + i];
    return v;
  }
  std::span<const uint8_t> bytes(size_t n) {
    if (!take(n)) return {};
    return in_.subspan(off_ - n, n);
  }

 private:
  bool take(size_t n) {
    if (!ok_ || n > left()) {
      ok_ = false;
      return false;
    }
    off_ += n;
    return true;
  }
  std::span<const uint8_t> in_;
  size_t off_ = 0;
  bool ok_ = true;
};

}  // namespace

std::string_view to_string(AnnounceError e) {
  switch (e) {
    case AnnounceError::kTooLong: return "too long";
    case AnnounceError::kTruncated: return "truncated";
    case AnnounceError::kBadMagic: return "not an announce";
    case AnnounceError::kBadVersion: return "unknown version";
    case AnnounceError::kBadField: return "invalid field";
    case AnnounceError::kTrailingBytes: return "bytes after the signature";
  }
  return "invalid";
}

Bytes encode_unsigned(const Announce& a) {
  Bytes out(std::begin(kMagic), std::end(kMagic));
  out.push_back(kVersion);
  out.push_back(0);
  put(out, a.timestamp_ms, 8);
  put(out, a.sequence, 4);
  put(out, a.mesh_port, 2);
  size_t n = std::min(a.addresses.size(), kMaxAddresses);
  out.push_back(static_cast<uint8_t>(n));
  for (size_t i = 0; i < n; ++i) {
    const auto& addr = a.addresses[i];
    if (addr.is_v4()) {
      out.push_back(4);
      auto b = addr.to_v4().to_bytes();
      out.insert(out.end(), b.begin(), b.end());
    } else {
      out.push_back(6);
      auto b = addr.to_v6().to_bytes();
      out.insert(out.end(), b.begin(), b.end());
    }
  }
  size_t certs = std::min(a.chain.size(), kMaxCerts);
  out.push_back(static_cast<uint8_t>(certs));
  for (size_t i = 0; i < certs; ++i) {
    put(out, a.chain[i].size(), 2);
    out.insert(out.end(), a.chain[i].begin(), a.chain[i].end());
  }
  return out;
}

Result<ParsedAnnounce, AnnounceError> parse_announce(std::span<const uint8_t> datagram) {
  if (datagram.size() > kMaxAnnounce) return AnnounceError::kTooLong;
  Cursor c(datagram);
  auto magic = c.bytes(sizeof kMagic);
  if (!c.ok()) return AnnounceError::kTruncated;
  if (std::memcmp(magic.data(), kMagic, sizeof kMagic) != 0) return AnnounceError::kBadMagic;
  uint64_t version = c.uint(1);
  uint64_t flags = c.uint(1);
  if (!c.ok()) return AnnounceError::kTruncated;
  if (version != kVersion) return AnnounceError::kBadVersion;
  if (flags != 0) return AnnounceError::kBadField;

  ParsedAnnounce p;
  Announce& a = p.announce;
  a.timestamp_ms = c.uint(8);
  a.sequence = static_cast<uint32_t>(c.uint(4));
  a.mesh_port = static_cast<uint16_t>(c.uint(2));
  size_t n = c.uint(1);
  if (n > kMaxAddresses) return AnnounceError::kBadField;
  for (size_t i = 0; i < n && c.ok(); ++i) {
    uint64_t family = c.uint(1);
    if (family == 4) {
      auto b = c.bytes(4);
      if (!c.ok()) break;
      boost::asio::ip::address_v4::bytes_type v4;
      std::memcpy(v4.data(), b.data(), 4);
      a.addresses.emplace_back(boost::asio::ip::address_v4(v4));
    } else if (family == 6) {
      auto b = c.bytes(16);
      if (!c.ok()) break;
      boost::asio::ip::address_v6::bytes_type v6;
      std::memcpy(v6.data(), b.data(), 16);
      a.addresses.emplace_back(boost::asio::ip::address_v6(v6));
    } else if (c.ok()) {
      return AnnounceError::kBadField;
    }
  }
  size_t certs = c.uint(1);
  if (c.ok() && (certs == 0 || certs > kMaxCerts)) return AnnounceError::kBadField;
  for (size_t i = 0; i < certs && c.ok(); ++i) {
    size_t len = c.uint(2);
    auto der = c.bytes(len);
    if (c.ok() && len == 0) return AnnounceError::kBadField;
    a.chain.emplace_back(der.begin(), der.end());
  }
  if (!c.ok()) return AnnounceError::kTruncated;
  p.signed_part = datagram.first(c.offset());
  p.signature = c.bytes(kSignatureSize);
  if (!c.ok()) return AnnounceError::kTruncated;
  if (c.left() != 0) return AnnounceError::kTrailingBytes;
  return p;
}

}  // namespace ugate::discovery

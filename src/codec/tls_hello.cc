#include "codec/tls_hello.h"

#include <cctype>

namespace ugate {
namespace {

constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kClientHelloType = 1;
constexpr size_t kRecordHeader = 5;
constexpr size_t kMaxRecord = 16384 + 2048;  // TLSPlaintext limit plus slack, as common stacks accept
constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtAlpn = 16;

// Bounds-checked reading of one buffer; any overrun makes it fail().
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  bool ok() const { return ok_; }
  size_t left() const { return ok_ ? b_.size() - pos_ : 0; }
  uint32_t u8() { return ok_ && take(1) ? b_[pos_ - 1] : 0; }
  uint32_t u16() { return ok_ && take(2) ? (uint32_t(b_[pos_ - 2]) << 8) | b_[pos_ - 1] : 0; }
  uint32_t u24() {
    return ok_ && take(3) ? (uint32_t(b_[pos_ - 3]) << 16) | (uint32_t(b_[pos_ - 2]) << 8) | b_[pos_ - 1] : 0;
  }
  std::span<const uint8_t> bytes(size_t n) { return ok_ && take(n) ? b_.subspan(pos_ - n, n) : std::span<const uint8_t>(); }
  Reader sub8() { return Reader(bytes(u8())); }
  Reader sub16() { return Reader(bytes(u16())); }

 private:
  bool take(size_t n) {
    if (b_.size() - pos_ < n) return ok_ = false;
    pos_ += n;
    return true;
  }
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
  bool ok_ = true;
};

bool valid_host_name(std::span<const uint8_t> name) {
  if (name.empty() || name.size() > 255) return false;
  for (uint8_t c : name)
    if (!(std::isalnum(c) || c == '.' || c == '-' || c == '_')) return false;
  return true;
}

Result<ClientHello, HelloError> parse_body(std::span<const uint8_t> body) {
  Reader r(body);
  r.u16();                // legacy_version
  r.bytes(32);            // random
  Reader session = r.sub8();
  if (session.left() > 32) return HelloError::kSessionId;
  Reader suites = r.sub16();
  if (!r.ok() || suites.left() < 2 || suites.left() % 2) return HelloError::kCipherSuites;
  Reader compression = r.sub8();
  if (!r.ok() || compression.left() < 1) return HelloError::kCompression;
  ClientHello out;
  if (r.left() == 0) return out;  // no extensions at all (old clients)
  Reader exts = r.sub16();
  if (!r.ok() || r.left() != 0) return HelloError::kExtensionsLength;
  bool seen_sni = false, seen_alpn = false;
  while (exts.left() > 0) {
    uint32_t type = exts.u16();
    Reader ext = exts.sub16();
    if (!exts.ok()) return HelloError::kTruncatedExtension;
    if (type == kExtServerName) {
      if (seen_sni) return HelloError::kTwoServerNames;
      seen_sni = true;
      Reader list = ext.sub16();
      if (!ext.ok() || ext.left() != 0) return HelloError::kBadServerName;
      while (list.left() > 0) {
        uint32_t name_type = list.u8();
        auto name = list.sub16();
        if (!list.ok()) return HelloError::kTruncatedName;
        if (name_type != 0) continue;  // only host_name is defined
        auto bytes = name.bytes(name.left());
        if (!valid_host_name(bytes)) return HelloError::kBadHostName;
        if (out.sni.empty()) out.sni.assign(bytes.begin(), bytes.end());
      }
    } else if (type == kExtAlpn) {
      if (seen_alpn) return HelloError::kTwoAlpn;
      seen_alpn = true;
      Reader list = ext.sub16();
      if (!ext.ok() || ext.left() != 0 || list.left() == 0) return HelloError::kBadAlpn;
      while (list.left() > 0) {
        Reader proto = list.sub8();
        if (!list.ok() || proto.left() == 0) return HelloError::kBadAlpnName;
        auto bytes = proto.bytes(proto.left());
        out.alpn.emplace_back(bytes.begin(), bytes.end());
      }
    }
  }
  return out;
}

}  // namespace

std::string_view to_string(HelloError e) {
  switch (e) {
    case HelloError::kNeedMore: return "incomplete ClientHello";
    case HelloError::kNotTls: return "not a TLS handshake record";
    case HelloError::kRecordType: return "record of another type inside the ClientHello";
    case HelloError::kRecordVersion: return "bad record version";
    case HelloError::kRecordLength: return "bad record length";
    case HelloError::kNotClientHello: return "first handshake message is not a ClientHello";
    case HelloError::kTooLarge: return "ClientHello too large";
    case HelloError::kSessionId: return "session id longer than 32 bytes";
    case HelloError::kCipherSuites: return "bad cipher suite list";
    case HelloError::kCompression: return "bad compression method list";
    case HelloError::kExtensionsLength: return "extensions length does not match the message";
    case HelloError::kTruncatedExtension: return "truncated extension";
    case HelloError::kTwoServerNames: return "two server_name extensions";
    case HelloError::kBadServerName: return "bad server_name extension";
    case HelloError::kTruncatedName: return "truncated server name";
    case HelloError::kBadHostName: return "invalid host name in SNI";
    case HelloError::kTwoAlpn: return "two ALPN extensions";
    case HelloError::kBadAlpn: return "bad ALPN extension";
    case HelloError::kBadAlpnName: return "bad ALPN protocol name";
  }
  return "malformed ClientHello";
}

Result<ClientHello, HelloError> parse_client_hello(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return HelloError::kNeedMore;
  if (bytes[0] != kHandshakeRecord) return HelloError::kNotTls;
  if (bytes.size() >= 2 && bytes[1] != 3) return HelloError::kNotTls;

  // Gather the handshake message from as many records as it spans.
  std::vector<uint8_t> handshake;
  size_t pos = 0;
  for (;;) {
    if (bytes.size() - pos < kRecordHeader) break;
    auto rec = bytes.subspan(pos, kRecordHeader);
    if (rec[0] != kHandshakeRecord) return HelloError::kRecordType;
    if (rec[1] != 3) return HelloError::kRecordVersion;
    size_t len = (size_t(rec[3]) << 8) | rec[4];
    if (len == 0 || len > kMaxRecord) return HelloError::kRecordLength;
    if (bytes.size() - pos - kRecordHeader < len) {
      // Partial record: its bytes still count towards the message below.
      auto part = bytes.subspan(pos + kRecordHeader);
      handshake.insert(handshake.end(), part.begin(), part.end());
      pos = bytes.size();
      break;
    }
    auto body = bytes.subspan(pos + kRecordHeader, len);
    handshake.insert(handshake.end(), body.begin(), body.end());
    pos += kRecordHeader + len;
    if (handshake.size() >= 4) {
      size_t need = 4 + ((size_t(handshake[1]) << 16) | (size_t(handshake[2]) << 8) | handshake[3]);
      if (handshake.size() >= need) break;
    }
    if (pos >= kMaxHelloBytes) break;
  }
  if (handshake.size() >= 1 && handshake[0] != kClientHelloType) return HelloError::kNotClientHello;
  if (handshake.size() < 4) return pos >= kMaxHelloBytes ? HelloError::kTooLarge : HelloError::kNeedMore;
  size_t hs_len = (size_t(handshake[1]) << 16) | (size_t(handshake[2]) << 8) | handshake[3];
  if (hs_len + 4 + kRecordHeader > kMaxHelloBytes) return HelloError::kTooLarge;
  if (handshake.size() < 4 + hs_len) {
    if (bytes.size() >= kMaxHelloBytes) return HelloError::kTooLarge;
    return HelloError::kNeedMore;
  }
  return parse_body(std::span<const uint8_t>(handshake).subspan(4, hs_len));
}

}  // namespace ugate

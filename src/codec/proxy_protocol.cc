#include "codec/proxy_protocol.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <vector>

#include "base/endpoint.h"
#include "codec/forwarded.h"

namespace ugate {
namespace {

constexpr char kSignature[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

void put16(std::string& out, size_t v) {
  out += static_cast<char>((v >> 8) & 0xff);
  out += static_cast<char>(v & 0xff);
}

using ParseResult = Result<ProxyHeader, ProxyHeaderError>;
namespace ip = boost::asio::ip;

uint16_t get16(std::span<const uint8_t> b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }

// CRC32c (Castagnoli, RFC 4960 appendix B), bit by bit: a header is small.
uint32_t crc32c(std::span<const uint8_t> bytes) {
  uint32_t crc = 0xffffffffu;
  for (uint8_t byte : bytes) {
    crc ^= byte;
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// A port in a v1 line: decimal, 0..65535, no leading zero.
bool v1_port(std::string_view s, uint16_t& out) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > 65535) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

// An address in a v1 line, of the family the line announced (inet_pton's
// forms: no leading zeros in IPv4, no scope in IPv6).
bool v1_address(std::string_view s, bool v6, ip::address& out) {
  if (s.empty() || s.size() > 45 || s.find('%') != std::string_view::npos) return false;
  boost::system::error_code ec;
  if (v6) out = ip::make_address_v6(std::string(s), ec);
  else out = ip::make_address_v4(std::string(s), ec);
  return !ec;
}

// "PROXY TCP4 SRC DST SPORT DPORT\r\n" (or TCP6, or UNKNOWN and anything).
ParseResult parse_v1(std::span<const uint8_t> b) {
  static constexpr std::string_view kPrefix = "PROXY ";
  const size_t n = b.size();
  for (size_t i = 0; i < std::min(n, kPrefix.size()); ++i)
    if (b[i] != static_cast<uint8_t>(kPrefix[i])) return ProxyHeaderError::kNotProxy;
  size_t cr = 0;
  for (;; ++cr) {
    if (cr + 2 > kMaxProxyV1Line) return ProxyHeaderError::kV1TooLong;
    if (cr == n) return ProxyHeaderError::kNeedMore;
    uint8_t c = b[cr];
    if (c == '\r') break;
    if (c < 0x20 || c > 0x7e) return ProxyHeaderError::kV1Malformed;  // a lone LF too
  }
  if (cr + 1 == n) return ProxyHeaderError::kNeedMore;
  if (b[cr + 1] != '\n' || cr < kPrefix.size()) return ProxyHeaderError::kV1Malformed;

  std::string_view line(reinterpret_cast<const char*>(b.data()) + kPrefix.size(), cr - kPrefix.size());
  std::vector<std::string_view> f;
  for (size_t at = 0;;) {
    size_t sp = line.find(' ', at);
    f.push_back(line.substr(at, sp == std::string_view::npos ? std::string_view::npos : sp - at));
    if (sp == std::string_view::npos) break;
    at = sp + 1;
  }
  ProxyHeader h;
  h.size = cr + 2;
  h.version = 1;
  if (f[0] == "UNKNOWN") return h;  // the receiver ignores the rest of the line
  if ((f[0] != "TCP4" && f[0] != "TCP6") || f.size() != 5) return ProxyHeaderError::kV1Malformed;
  const bool v6 = f[0] == "TCP6";
  ip::address src, dst;
  uint16_t sport = 0, dport = 0;
  if (!v1_address(f[1], v6, src) || !v1_address(f[2], v6, dst) || !v1_port(f[3], sport) || !v1_port(f[4], dport))
    return ProxyHeaderError::kV1Malformed;
  h.proxied = true;
  h.source = TcpEndpoint(src, sport);
  h.destination = TcpEndpoint(dst, dport);
  return h;
}

// The TLVs after the addresses: each must fit, and a CRC32c one must match.
std::optional<ProxyHeaderError> check_tlvs(std::span<const uint8_t> header, size_t at) {
  while (at < header.size()) {
    if (at + 3 > header.size()) return ProxyHeaderError::kV2Tlv;
    const uint8_t type = header[at];
    const size_t len = get16(header, at + 1);
    if (at + 3 + len > header.size()) return ProxyHeaderError::kV2Tlv;
    if (type == 0x03) {  // PP2_TYPE_CRC32C: over the whole header with its own value zeroed
      if (len != 4) return ProxyHeaderError::kV2Tlv;
      std::vector<uint8_t> copy(header.begin(), header.end());
      std::fill_n(copy.begin() + static_cast<std::ptrdiff_t>(at + 3), 4, 0);
      const uint32_t sent = static_cast<uint32_t>(get16(header, at + 3)) << 16 | get16(header, at + 5);
      if (crc32c(copy) != sent) return ProxyHeaderError::kV2Checksum;
    }
    at += 3 + len;
  }
  return std::nullopt;
}

ParseResult parse_v2(std::span<const uint8_t> b) {
  const size_t n = b.size();
  for (size_t i = 0; i < std::min(n, sizeof kSignature); ++i)
    if (b[i] != static_cast<uint8_t>(kSignature[i])) return ProxyHeaderError::kNotProxy;
  if (n < 16) return ProxyHeaderError::kNeedMore;
  if ((b[12] >> 4) != 2) return ProxyHeaderError::kV2Version;
  const unsigned command = b[12] & 0x0f, family = b[13] >> 4, transport = b[13] & 0x0f;
  if (command > 1) return ProxyHeaderError::kV2Command;
  if (family > 3 || transport > 2) return ProxyHeaderError::kV2Family;
  const size_t size = 16 + get16(b, 14);
  if (size > kMaxProxyHeader) return ProxyHeaderError::kTooLarge;
  if (n < size) return ProxyHeaderError::kNeedMore;
  std::span<const uint8_t> header = b.first(size);

  ProxyHeader h;
  h.size = size;
  h.version = 2;
  // LOCAL: the address block, whatever its family says, is skipped unread;
  // so is that of an unspecified family.
  if (command == 0 || family == 0) return h;
  static constexpr size_t kAddressBytes[] = {0, 12, 36, 216};  // by family: UNSPEC, INET, INET6, UNIX
  const size_t addresses = kAddressBytes[family];
  if (size < 16 + addresses) return ProxyHeaderError::kV2ShortAddresses;
  if (auto error = check_tlvs(header, 16 + addresses)) return *error;
  if (transport != 1 || family == 3) return h;  // UDP or UNIX: not a TCP connection we can name
  if (family == 1) {
    ip::address_v4::bytes_type src{}, dst{};
    std::copy_n(b.begin() + 16, 4, src.begin());
    std::copy_n(b.begin() + 20, 4, dst.begin());
    h.source = TcpEndpoint(ip::address_v4(src), get16(b, 24));
    h.destination = TcpEndpoint(ip::address_v4(dst), get16(b, 26));
  } else {
    ip::address_v6::bytes_type src{}, dst{};
    std::copy_n(b.begin() + 16, 16, src.begin());
    std::copy_n(b.begin() + 32, 16, dst.begin());
    h.source = TcpEndpoint(ip::address_v6(src), get16(b, 48));
    h.destination = TcpEndpoint(ip::address_v6(dst), get16(b, 50));
  }
  h.proxied = true;
  return h;
}

}  // namespace

std::string proxy_v2_header(const TcpEndpoint& source, const TcpEndpoint& destination, std::string_view peer_identity) {
  namespace ip = boost::asio::ip;
  const bool v4 = source.address().is_v4() && destination.address().is_v4();
  std::string addresses;
  auto put_address = [&](const ip::address& a) {
    if (v4) {
      auto b = a.to_v4().to_bytes();
      addresses.append(reinterpret_cast<const char*>(b.data()), b.size());
    } else {
      auto b = (a.is_v4() ? ip::make_address_v6(ip::v4_mapped, a.to_v4()) : a.to_v6()).to_bytes();
      addresses.append(reinterpret_cast<const char*>(b.data()), b.size());
    }
  };
  put_address(source.address());
  put_address(destination.address());
  put16(addresses, source.port());
  put16(addresses, destination.port());
  // TLVs: type, 16-bit length, value. A SPIFFE ID is far below 64 KiB; cut to be sure.
  if (!peer_identity.empty()) {
    peer_identity = peer_identity.substr(0, 4096);
    addresses += static_cast<char>(kProxyTlvPeerIdentity);
    put16(addresses, peer_identity.size());
    addresses.append(peer_identity);
  }
  std::string out(kSignature, sizeof kSignature);
  out += static_cast<char>(0x21);             // version 2, PROXY
  out += static_cast<char>(v4 ? 0x11 : 0x21);  // TCP over IPv4 / IPv6
  put16(out, addresses.size());
  return out + addresses;
}

TcpEndpoint original_source(const StreamMeta& m) {
  auto forwarded = m.headers.find("forwarded");
  if (!forwarded) return m.source;
  return forwarded_client(*forwarded).value_or(m.source);
}

Result<ProxyHeader, ProxyHeaderError> parse_proxy_header(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return ProxyHeaderError::kNeedMore;
  if (bytes[0] == 'P') return parse_v1(bytes);
  if (bytes[0] == '\r') return parse_v2(bytes);
  return ProxyHeaderError::kNotProxy;
}

std::string_view to_string(ProxyHeaderError e) {
  switch (e) {
    case ProxyHeaderError::kNeedMore: return "incomplete PROXY header";
    case ProxyHeaderError::kNotProxy: return "no PROXY header (neither v1 'PROXY ' nor the v2 signature)";
    case ProxyHeaderError::kV1Malformed: return "malformed PROXY v1 line";
    case ProxyHeaderError::kV1TooLong: return "PROXY v1 line without CRLF within 107 bytes";
    case ProxyHeaderError::kV2Version: return "PROXY v2 header with a version other than 2";
    case ProxyHeaderError::kV2Command: return "PROXY v2 header with a command other than LOCAL or PROXY";
    case ProxyHeaderError::kV2Family: return "PROXY v2 header with an unassigned address family or transport";
    case ProxyHeaderError::kV2ShortAddresses: return "PROXY v2 header too short for its addresses";
    case ProxyHeaderError::kV2Tlv: return "PROXY v2 header with a malformed TLV";
    case ProxyHeaderError::kV2Checksum: return "PROXY v2 header whose CRC32c does not match";
    case ProxyHeaderError::kTooLarge: return "PROXY v2 header above 4096 bytes";
  }
  return "bad PROXY header";
}

}  // namespace ugate

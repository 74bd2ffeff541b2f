#pragma once
// The PROXY protocol (HAProxy's proxy-protocol.txt): a header a proxy sends
// first on a connection, naming the connection it relays.
//
// Writing (section 2.2, version 2): a listener with `proxy_protocol: v2`
// writes one to its upstream, so that a local app behind ugate learns who the
// client was. The peer's SPIFFE ID (proven by mTLS on the mesh port) rides
// along in TLV 0xD0, as ztunnel sends it.
//
// Reading (versions 1 and 2): a listener with `accept_proxy_protocol` reads
// one from a load balancer in front of it. Sans-I/O and incremental: call it
// with every byte received so far.
//
//   v1: "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n" (TCP4 | TCP6 |
//       UNKNOWN, single spaces, canonical addresses, ports 0..65535 without
//       leading zeros), CRLF within 107 bytes.
//   v2: the 12-byte signature \r\n\r\n\0\r\nQUIT\n, version|command (0x20
//       LOCAL, 0x21 PROXY), family|transport (0x11 TCP/IPv4, 0x21 TCP/IPv6,
//       ...), a 16-bit length, then the addresses and ports (12 or 36 bytes)
//       and TLVs (type, 16-bit length, value) up to that length.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/meta.h"
#include "base/result.h"

namespace ugate {

inline constexpr uint8_t kProxyTlvPeerIdentity = 0xD0;

// The header for a TCP stream from `source` to `destination`: IPv4 when both
// are IPv4, else IPv6 (an IPv4 address as ::ffff:a.b.c.d).
std::string proxy_v2_header(const TcpEndpoint& source, const TcpEndpoint& destination, std::string_view peer_identity);

// The client a stream stands for: the first node of its Forwarded header
// (RFC 7239: the original source, as HBONE carries it) when that is an IP
// address, else the stream's own source. A node without a port (ztunnel's
// `for=10.0.0.5`) gives port 0: the app behind learns the client's address
// and that its port is unknown, where the peer's port would name a socket of
// the ztunnel, not the client's.
TcpEndpoint original_source(const StreamMeta& m);

// A header as a receiver reads it.
struct ProxyHeader {
  size_t size = 0;       // the header's bytes; the client's own bytes follow them
  uint8_t version = 0;   // 1 or 2
  // True when the header names the relayed TCP connection (v1 TCP4/TCP6, v2
  // PROXY over TCP/IPv4 or IPv6). False for a v2 LOCAL (the proxy's own
  // connection, a health check), v1 UNKNOWN, and what a receiver need not
  // implement (UNSPEC, UDP, UNIX): the connection's own addresses stand.
  bool proxied = false;
  TcpEndpoint source;       // the client
  TcpEndpoint destination;  // the address the client connected to (on the proxy)
};

enum class ProxyHeaderError : uint8_t {
  kNeedMore = 1,      // a prefix of a valid header: read more
  kNotProxy,          // neither "PROXY " (v1) nor the v2 signature: no header at all
  kV1Malformed,       // a v1 line off its grammar (fields, spaces, addresses, ports, a lone CR or LF)
  kV1TooLong,         // no CRLF within 107 bytes
  kV2Version,         // the version is not 2
  kV2Command,         // neither LOCAL nor PROXY
  kV2Family,          // an unassigned address family or transport protocol
  kV2ShortAddresses,  // the length does not cover the family's addresses
  kV2Tlv,             // a TLV runs past the header, or a CRC32c TLV is not 4 bytes
  kV2Checksum,        // its CRC32c TLV does not match the header
  kTooLarge,          // a v2 header longer than kMaxProxyHeader
};
std::string_view to_string(ProxyHeaderError e);

// The most bytes a header may take here. v1 lines are at most 107 bytes; a v2
// header could be 16 + 65535, but load balancers send addresses and a few
// small TLVs (hundreds of bytes at most), and a receiver must hold it whole.
inline constexpr size_t kMaxProxyHeader = 4096;
inline constexpr size_t kMaxProxyV1Line = 107;

Result<ProxyHeader, ProxyHeaderError> parse_proxy_header(std::span<const uint8_t> bytes);

}  // namespace ugate

#pragma once
// PROXY protocol version 2 (HAProxy's proxy-protocol.txt, section 2.2): the
// binary header a listener with `proxy_protocol: v2` writes to its upstream
// first, so that a local app behind ugate learns who the client was. The
// peer's SPIFFE ID (proven by mTLS on the mesh port) rides along in TLV 0xD0,
// as ztunnel sends it.
#include <optional>
#include <string>
#include <string_view>

#include "base/meta.h"

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

}  // namespace ugate

#pragma once
// `ugate probe`: one QUIC connection to a node's quic listener, as
// `curl --http3 -v` would check it: the handshake (ALPN h3, the server's
// identity verified against the roots and, with a pin, its SPIFFE ID or node
// ID), the round-trip time, and optionally an HBONE CONNECT whose tunnel
// carries stdin to the destination and its answer to stdout. It is also the
// first user of the client side of H3Connection (the pooled Connector comes
// next).
#include <iosfwd>
#include <string>

#include "base/duration.h"
#include "base/endpoint.h"

namespace ugate {
struct NodeIdentity;
}

namespace ugate::quic {

struct ProbeOptions {
  HostPort server;      // the node's quic listener
  std::string pin;      // its SPIFFE ID or node ID; "": any identity the roots vouch for
  std::string connect;  // "host:port": a CONNECT through it; "": the handshake only
  Duration timeout{std::chrono::seconds(10)};  // for the handshake and the CONNECT's answer
  // Tunnels opened at once on the one connection (a concurrency check). Above
  // 1, each carries a copy of stdin (read whole first, at most kMaxProbeInput)
  // and each answer is counted and hashed (SHA-256) instead of printed.
  unsigned streams = 1;
};

inline constexpr size_t kMaxProbeInput = 64u << 20;

// Exit codes.
enum ProbeExit { kProbeOk = 0, kProbeRefused = 1, kProbeFailed = 2 };

// Reports to `log` (the human-readable lines); the tunnel's bytes use fds 0 and 1.
// With several streams: a line per distinct answer, "N tunnels: STATUS, BYTES bytes back, sha256 HEX".
int probe(const NodeIdentity& identity, const ProbeOptions& options, std::ostream& log);

}  // namespace ugate::quic

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
};

// Exit codes.
enum ProbeExit { kProbeOk = 0, kProbeRefused = 1, kProbeFailed = 2 };

// Reports to `log` (the human-readable lines); the tunnel's bytes use fds 0 and 1.
int probe(const NodeIdentity& identity, const ProbeOptions& options, std::ostream& log);

}  // namespace ugate::quic

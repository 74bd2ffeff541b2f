#pragma once
// The mesh's parts of the config (mesh, nodes, remote_accept, registration_tokens), owned by this module.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/duration.h"
#include "base/endpoint.h"
#include "listener/listener_config.h"
#include "mesh/h2_settings.h"

namespace ugate {

// The mesh's HTTP/2 connections (HBONE), both directions. The defaults are
// the HTTP/2 layer's (h2_settings.h): ztunnel's windows and frames, pooled
// connections released after 5 min without a stream.
struct MeshConfig {
  h2::Settings h2;
  h2::Timing timing;  // idle_timeout: a pooled connection without streams this long closes
  uint32_t streams_per_connection = 100;  // streams we open on one pooled connection
  Duration connect_timeout{5'000};        // a pooled connection's TCP connect, then its TLS handshake, each
};

inline constexpr std::string_view kNodeLoopback = "127.0.0.1";
// A node's mesh port as a CONNECT through its gateway names it (Istio's HBONE
// port, whatever BASE the node runs on): a node registered with a gateway
// serves a CONNECT for this port on its reverse connection as its own mesh
// port, TLS end to end from the caller (double HBONE).
inline constexpr uint16_t kHbonePort = 15008;

// A mesh peer by name. `forward: NAME:PORT` (or NAME.<trust-domain>:PORT,
// from a proxy door) reaches PORT on that node's loopback (or its
// workload_address) through an HBONE tunnel (HTTP/2 CONNECT over mTLS) to
// its mesh port.
struct NodeConfig {
  std::string name;
  HostPort address;  // its mesh port (BASE+8); none (port 0) for a node reached only when it registered (reverse accept)
  std::string id;    // who it must prove to be: a SPIFFE ID, or a node ID (52 base32 characters)
  std::string via;   // another node whose mesh port reaches this one (CONNECT inside CONNECT); "": directly
  // The host a CONNECT for NAME:PORT asks the node for (:authority): its
  // loopback, or an IP literal of the node's workload. A ztunnel refuses an
  // authority that is not one of its workloads' addresses.
  std::string workload_address{kNodeLoopback};
};
// The longest path of nodes a stream may take (the first dialled, each
// later one through a CONNECT on the one before).
inline constexpr size_t kMaxMeshHops = 3;
// Whether `id` names a node by SPIFFE ID (else by node ID).
inline bool is_spiffe_ref(std::string_view id) { return id.starts_with("spiffe://"); }

// Gateway: who may sign registration tokens (see src/mesh/registration_token.h).
struct RegistrationTokensConfig {
  std::vector<std::string> issuers;   // base64url P-256 public keys (65 octets, as `ugate push vapid-keys` prints)
  Duration max_lifetime{30LL * 24 * 3'600'000};  // a token valid for longer is refused
};

// Reverse accept: this node keeps an mTLS connection open to each gateway
// (ALPN h2r) and serves HBONE over it, so that it is reachable with no open
// port (behind NAT). Streams arriving that way are the `listener`'s.
struct RemoteAcceptConfig {
  std::vector<std::string> gateways;  // names under nodes, each with an address
  Duration backoff_min{1'000};        // reconnect delays double from this...
  Duration backoff_max{900'000};      // ...up to this, with jitter
  // A node whose certificate is not from the mesh CA registers with an ES256
  // token instead (ALPN h2rt); the file holds it, re-read at every connect.
  std::string token_file;
  ListenerConfig listener{.name = "remote-accept", .protocol = Protocol::kMesh};
};

}  // namespace ugate

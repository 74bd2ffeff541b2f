#pragma once
// One listener's config: the address, the protocol, the routes and the
// options its door reads. Defaults are written here once; the config reader
// (src/config/) fills it from YAML, and the gate gives it to the workers.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/cidr.h"
#include "base/duration.h"
#include "base/endpoint.h"
#include "listener/protocol.h"
#include "policy/router.h"
#include "runtime/unix_socket.h"

namespace ugate {

// A user of a proxy door (SOCKS5 username/password, HTTP Proxy-Authorization).
struct ProxyUser {
  std::string name;
  std::string password;
};

// `source_rate_limit`: new connections per second from one client address
// (IPv6: one /64), up to `burst` at once; per_second 0: no limit.
struct SourceRateLimit {
  uint32_t per_second = 0, burst = 0;
};

struct ListenerConfig {
  std::string name;
  HostPort address;  // or a Unix socket (address.unix_socket)
  UnixSocketFile socket_file;
  Protocol protocol = Protocol::kTcp;
  Router router;
  Duration connect_timeout{5'000};
  Duration idle_timeout{3'600'000};
  Duration sniff_timeout{5'000};  // doors that read first bytes (tls-sni, socks5, ...): time to get them
  // Proxy doors (socks5, http-proxy, auto), whose clients name the destination:
  std::vector<ProxyUser> users;  // empty: no authentication
  Router allow;                  // destinations clients may reach (the routes' forward is unused); empty: any
  Duration udp_idle_timeout{60'000};  // a SOCKS5 UDP association without datagrams this long ends
  Duration response_timeout{60'000};  // http-proxy, auto: an origin's response head within this, else 504
  Duration handshake_timeout{10'000};  // doors that speak TLS (mesh, terminate): time to finish it
  bool splice = true;        // splice(2) when both sides are plain TCP
  // Doors whose clients name the destination (proxies, HBONE): false refuses
  // this node's own admin port as one, so a proxy door bound to a network
  // does not expose /debug/config and /metrics.
  bool reach_admin = false;
  // Mesh listeners (and remote-accept): false lets a stream whose client
  // names the destination (HBONE :authority) reach only this node's own
  // addresses and other mesh nodes, so the node is no relay for its whole
  // trust domain; true lets it reach any (still subject to allow and rules).
  bool egress = false;
  uint32_t max_streams = 0;  // 0: limited only by open files
  SourceRateLimit source_rate_limit;  // per client address; none unless configured
  bool tproxy = false;       // capture doors and udp: TPROXY (IP_TRANSPARENT) instead of REDIRECT
  // Destinations that are not mesh nodes are reached through this node: an
  // HBONE CONNECT to it, which dials them (an egress gateway). "": directly.
  std::string via;
  // `proxy_protocol: v2`: each upstream connection starts with a PROXY v2
  // header naming the client (and its SPIFFE ID), for an app behind ugate.
  bool proxy_protocol = false;
  // `accept_proxy_protocol: { from: [CIDR, ...] }`: a connection from these
  // addresses (a load balancer) starts with a PROXY v1/v2 header naming the
  // client; empty: no connection's header is read.
  std::vector<Cidr> accept_proxy_protocol_from;
  // stun: RFC 5780's other address and port (NAT behaviour discovery);
  // empty host: none. `users` are then the short-term credentials.
  HostPort other_address;
  // stun: `tls: { cert, key }` (PEM files): the TCP port speaks TLS (RFC 8656
  // section 3.1, the 5349 style); empty: plain TCP.
  std::string tls_cert, tls_key;

  bool is(ProtocolTrait trait) const { return has(protocol, trait); }
};

// UDP listeners: a NAT entry (flow) ends after this long without a datagram,
// and max_streams bounds the entries; both unless the listener says otherwise.
inline constexpr Duration kUdpIdleTimeout{60'000};
inline constexpr uint32_t kUdpMaxFlows = 4096;

// Whether a proxy listener lets its clients reach `destination`.
bool allows(const ListenerConfig& l, const HostPort& destination);
// Whether `user` and `password` are one of the listener's users (the
// password compared in constant time).
bool verify_user(const ListenerConfig& l, std::string_view user, std::string_view password);

}  // namespace ugate

#pragma once
// ugate's configuration: the YAML schema, its defaults and validation.
// Every error names the file, the line, the key and the problem.
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "base/config_error.h"
#include "base/duration.h"
#include "base/endpoint.h"
#include "discovery/discovery_config.h"
#include "identity/identity_config.h"
#include "identity/tls_terminate.h"
#include "mesh/mesh_config.h"
#include "runtime/access_log.h"
#include "policy/authz.h"
#include "policy/router.h"

namespace ugate {

inline constexpr uint16_t kDefaultBasePort = 15000;

// A user of a proxy door (SOCKS5 username/password, HTTP Proxy-Authorization).
struct ProxyUser {
  std::string name;
  std::string password;
};

// `protocol: webpush`: the RFC 8030 push service (HTTPS, on the control thread).
struct WebPushConfig {
  std::string tls_cert, tls_key;  // PEM files (tls: {cert, key})
  std::string store;              // SQLite file; default STATE_DIR/webpush-NAME.db
  std::string public_url;         // origin of endpoints; default https://<Host header>
  uint64_t max_message_size = 4096;
  uint64_t max_pending = 100;     // per subscription
  uint64_t max_subscriptions = 100'000;
  Duration default_ttl{24 * 3'600'000};   // /publish without a TTL header
  Duration max_ttl{28 * 24 * 3'600'000LL};
  bool node_mailboxes = true;     // mesh nodes (client certificates from the node's roots) get mailboxes
};

// Listener protocols whose streams choose their own destination (HBONE's
// CONNECT :authority): they take no forward or routes.
bool protocol_names_destination(std::string_view protocol);
struct ListenerConfig {
  std::string name;
  HostPort address;
  std::string protocol = "tcp";
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
  uint32_t max_streams = 0;  // 0: limited only by open files
  bool tproxy = false;       // capture doors and udp: TPROXY (IP_TRANSPARENT) instead of REDIRECT
  // Destinations that are not mesh nodes are reached through this node: an
  // HBONE CONNECT to it, which dials them (an egress gateway). "": directly.
  std::string via;
  // `proxy_protocol: v2`: each upstream connection starts with a PROXY v2
  // header naming the client (and its SPIFFE ID), for an app behind ugate.
  bool proxy_protocol = false;
  std::optional<WebPushConfig> webpush;  // set for protocol webpush
};

// UDP listeners: a NAT entry (flow) ends after this long without a datagram,
// and max_streams bounds the entries; both unless the listener says otherwise.
inline constexpr Duration kUdpIdleTimeout{60'000};
inline constexpr uint32_t kUdpMaxFlows = 4096;

// Doors that take connections iptables captured: the destination is the
// original one (or a route matching it), so `forward`/`routes` are optional.
bool is_capture_protocol(std::string_view protocol);
// Whether a proxy listener lets its clients reach `destination`.
bool allows(const ListenerConfig& l, const HostPort& destination);
// Whether `user` and `password` are one of the listener's users (the
// password compared in constant time).
bool verify_user(const ListenerConfig& l, std::string_view user, std::string_view password);
// Protocols whose clients name the destination (no forward/routes needed).
bool is_proxy_protocol(std::string_view protocol);
// Every protocol whose streams go where the client says: the proxies, HBONE
// (h2c and the mesh port).
bool client_names_destination(std::string_view protocol);

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
  ListenerConfig listener;            // name remote-accept, protocol mesh
};

struct Config {
  std::string source;  // the file it came from, or "<embedded default>"
  uint16_t base_port = kDefaultBasePort;
  unsigned workers = 0;  // 0: one per core
  Duration drain_timeout{10'000};
  std::string log_level = "info";
  std::string state_dir;
  AccessLogConfig access_log;
  std::optional<HostPort> admin;  // nullopt: admin server off
  MeshConfig mesh;
  std::vector<NodeConfig> nodes;
  RemoteAcceptConfig remote_accept;
  RegistrationTokensConfig registration_tokens;
  std::vector<ListenerConfig> listeners;
  IdentityConfig identity;
  AuthzPolicy authorization;
  DiscoveryConfig discovery;
};

// Command-line values that win over the file.
struct ConfigOverrides {
  std::optional<uint16_t> base_port;
  std::optional<std::string> state_dir;
  std::optional<unsigned> workers;
  std::optional<std::string> log_level;
};

// The config used when none is given: admin on 127.0.0.1:BASE+0, and the
// doors of DESIGN.md's port table as they come to exist.
extern const char* const kEmbeddedDefaultConfig;

Config load_config_file(const std::string& path, const ConfigOverrides& overrides);
Config load_config_text(const std::string& yaml, const std::string& source, const ConfigOverrides& overrides);

// The effective config, every default filled in (for `ugate check` and /debug/config).
nlohmann::json to_json(const Config& config);

}  // namespace ugate

#pragma once
// The config reader's parts, one per module's section of the YAML; each fills
// that module's own config struct, whose defaults are written there once.
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace ugate::config_yaml {

// `defaults:` at the top level, for every listener that does not say otherwise.
struct ListenerDefaults {
  Duration connect_timeout{5'000};
  Duration idle_timeout{3'600'000};
  Duration sniff_timeout{5'000};
  Duration handshake_timeout{10'000};
  bool splice = true;
  uint32_t max_streams = 0;
  SourceRateLimit source_rate_limit;  // only for listeners not on loopback (exposed doors)
};

ListenerConfig read_listener(const Reader& r, const YAML::Node& n, const std::string& key, uint16_t base,
                             const ListenerDefaults& d);
// HOST:PORT (PORT may be +N, from `base`), or unix:/PATH or unix:@NAME.
HostPort read_address(const Reader& r, const YAML::Node& n, const std::string& key, uint16_t base, bool allow_zero);
// A listener's Unix socket options (mode, owner, group), the protocol and address already read.
void read_unix_listener(const Reader& r, const YAML::Node& n, const std::string& key, ListenerConfig& l);
// A listener's accept_proxy_protocol: { from: [CIDR, ...] } (the listener's protocol already read).
void read_accept_proxy_protocol(const Reader& r, const YAML::Node& n, const std::string& key, ListenerConfig& l);
// source_rate_limit: { per_second: N, burst: M } (burst: N unless given), or off.
SourceRateLimit read_source_rate_limit(const Reader& r, const YAML::Node& n, const std::string& key);
// A listener's own source_rate_limit, else the default's when it accepts connections from the network.
void read_listener_source_rate_limit(const Reader& r, const YAML::Node& n, const std::string& key,
                                     const ListenerDefaults& d, ListenerConfig& l);
// A stun listener's turn: section (the listener already read: its address is the relays' default).
TurnConfig read_turn(const Reader& r, const YAML::Node& n, const std::string& key, const ListenerConfig& l);
// The listener whose streams come over reverse connections (remote_accept).
ListenerConfig remote_accept_listener(const ListenerDefaults& d);
// A webpush listener's tls and webpush keys.
WebPushConfig read_webpush(const Reader& r, const YAML::Node& n, const std::string& key);
void read_mesh(const Reader& r, const YAML::Node& n, MeshConfig& m);
std::vector<NodeConfig> read_nodes(const Reader& r, const YAML::Node& n, uint16_t base);
// After the nodes, which it names.
void read_remote_accept(const Reader& r, const YAML::Node& n, Config& c);
void read_registration_tokens(const Reader& r, const YAML::Node& n, RegistrationTokensConfig& t);
IdentityConfig read_identity(const Reader& r, const YAML::Node& n);
AuthzPolicy read_authorization(const Reader& r, const YAML::Node& n);
DiscoveryConfig read_discovery(const Reader& r, const YAML::Node& n);
// stun_client: { servers: [HOST:PORT, ...], interval: 5m } (PORT may be +N).
StunClientConfig read_stun_client(const Reader& r, const YAML::Node& n, uint16_t base);
DnsConfig read_dns(const Reader& r, const YAML::Node& n, uint16_t base);

}  // namespace ugate::config_yaml

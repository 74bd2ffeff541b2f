#pragma once
// ugate's configuration: the YAML schema, its defaults and validation.
// Every error names the file, the line, the key and the problem.
#include <nlohmann/json_fwd.hpp>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "base/config_error.h"
#include "base/duration.h"
#include "base/endpoint.h"
#include "discovery/discovery_config.h"
#include "dns/dns_config.h"
#include "identity/identity_config.h"
#include "identity/tls_terminate.h"
#include "listener/listener_config.h"
#include "mesh/mesh_config.h"
#include "runtime/access_log.h"
#include "policy/authz.h"
#include "policy/router.h"
#include "listener/turn_config.h"
#include "stun/client_config.h"
#include "webpush/webpush_config.h"

namespace ugate {

inline constexpr uint16_t kDefaultBasePort = 15000;

struct Config {
  std::string source;  // the file it came from, or "<embedded default>"
  uint16_t base_port = kDefaultBasePort;
  unsigned workers = 0;  // 0: one per core
  Duration drain_timeout{10'000};
  std::string log_level = "info";
  std::string state_dir;
  uint64_t memory_watermark = 0;  // overload.memory_watermark, bytes; 0: none (runtime/memory_watermark.h)
  AccessLogConfig access_log;
  std::optional<HostPort> admin;  // nullopt: admin server off
  MeshConfig mesh;
  std::vector<NodeConfig> nodes;
  RemoteAcceptConfig remote_accept;
  RegistrationTokensConfig registration_tokens;
  std::vector<ListenerConfig> listeners;
  std::map<std::string, TurnConfig, std::less<>> turn;  // by listener name: the stun listeners' turn: sections
  std::map<std::string, WebPushConfig, std::less<>> webpush;  // by listener name: the webpush listeners'
  IdentityConfig identity;
  AuthzPolicy authorization;
  DiscoveryConfig discovery;
  DnsConfig dns;  // for the dns listeners
  StunClientConfig stun_client;  // the node's own STUN questions (src/stun/client_service.h)
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

#include "config/config.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "config/readers.h"

namespace ugate {

const char* const kEmbeddedDefaultConfig = R"(# ugate embedded default config.
# Ports are written as +N: BASE+N, where BASE is 15000 or --base-port.
admin:
  address: 127.0.0.1:+0
listeners:
  # Connections that iptables REDIRECTs here (`ugate capture install`). Safe
  # on every address: a connection that was not redirected is refused.
  - name: capture-out
    address: 0.0.0.0:+1
    protocol: capture-out
  - name: capture-in
    address: 0.0.0.0:+6
    protocol: capture-in
  # The mesh: mTLS with the node's identity (created in state_dir on first
  # run), HBONE over HTTP/2 on TCP and over HTTP/3 on QUIC (UDP). Its streams
  # reach only this node's own addresses (egress: false).
  - name: mesh
    address: 0.0.0.0:+8
    protocol: mesh
  - name: quic
    address: 0.0.0.0:+7
    protocol: quic
  # Plain-text HBONE (HTTP/2 CONNECT) for trusted networks: loopback only.
  - name: hbone-h2c
    address: 127.0.0.1:+9
    protocol: hbone-h2c
  # Proxy doors on loopback only: never an open proxy by accident.
  - name: http-proxy
    address: 127.0.0.1:+2
    protocol: http-proxy
  - name: socks5
    address: 127.0.0.1:+5
    protocol: socks5
  # Mesh names for the node's apps, the rest forwarded to /etc/resolv.conf's
  # servers (UDP and TCP; `ugate capture install --dns` sends port 53 here).
  - name: dns
    address: 127.0.0.1:+53
    protocol: dns
  # No tls-sni listener on +4: TLS ingress by SNI needs routes to the
  # backends of its names, and there is no default that is not an open relay.
)";

namespace {

using namespace config_yaml;

std::string default_state_dir() {
  if (const char* env = std::getenv("UGATE_STATE_DIR"); env && *env) return env;
  if (geteuid() == 0) return "/var/lib/ugate";
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) return std::string(xdg) + "/ugate";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.local/state/ugate";
  return ".ugate";
}

void apply_defaults(Config& c) {
  if (c.workers == 0) c.workers = std::max(1u, std::thread::hardware_concurrency());
  if (c.state_dir.empty()) c.state_dir = default_state_dir();
  for (auto& [name, w] : c.webpush)
    if (w.store.empty()) w.store = c.state_dir + "/webpush-" + name + ".db";
}

}  // namespace

Config load_config_text(const std::string& yaml, const std::string& source, const ConfigOverrides& o) {
  Reader r(source);
  YAML::Node root = parse_yaml(r, yaml);
  Config c;
  c.source = source;
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  r.only_keys(root, "",
              {"base_port", "workers", "drain_timeout", "log_level", "state_dir", "access_log", "admin", "defaults",
               "mesh", "identity", "authorization", "listeners", "discovery", "nodes", "remote_accept",
               "registration_tokens", "overload", "dns", "stun_client"});
  if (root["base_port"]) c.base_port = static_cast<uint16_t>(r.number(root["base_port"], "base_port", 65535 - 53));
  if (o.base_port) c.base_port = *o.base_port;
  if (root["workers"]) c.workers = static_cast<unsigned>(r.number(root["workers"], "workers", 256));
  if (root["drain_timeout"]) c.drain_timeout = r.duration(root["drain_timeout"], "drain_timeout");
  if (const auto& ov = root["overload"]) {
    r.only_keys(ov, "overload", {"memory_watermark"});
    if (ov["memory_watermark"])
      c.memory_watermark = r.size(ov["memory_watermark"], "overload.memory_watermark", 1 << 20, uint64_t{1} << 40);
  }
  if (root["log_level"]) c.log_level = r.scalar(root["log_level"], "log_level");
  if (root["state_dir"]) c.state_dir = r.scalar(root["state_dir"], "state_dir");
  if (o.workers) c.workers = *o.workers;
  if (o.log_level) c.log_level = *o.log_level;
  if (o.state_dir) c.state_dir = *o.state_dir;
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error", "off"};
  if (!levels.count(c.log_level))
    r.fail(root["log_level"], "log_level", "unknown level '" + c.log_level + "' (trace, debug, info, warn, error, off)");

  if (const auto& al = root["access_log"]) {
    r.only_keys(al, "access_log", {"path", "format"});
    if (al["path"]) c.access_log.path = r.scalar(al["path"], "access_log.path");
    if (c.access_log.path.empty()) r.fail(al["path"], "access_log.path", "empty path (use off to disable)");
    if (al["format"]) {
      std::string f = r.scalar(al["format"], "access_log.format");
      if (f == "text") c.access_log.format = AccessLogConfig::Format::kText;
      else if (f == "json") c.access_log.format = AccessLogConfig::Format::kJson;
      else r.fail(al["format"], "access_log.format", "expected text or json, got '" + f + "'");
    }
  }

  c.admin = HostPort{"127.0.0.1", c.base_port};
  if (const auto& admin = root["admin"]) {
    if (admin.IsScalar() && (admin.Scalar() == "off" || admin.Scalar() == "false")) {
      c.admin.reset();
    } else {
      r.only_keys(admin, "admin", {"address"});
      if (admin["address"]) c.admin = r.address(admin["address"], "admin.address", c.base_port, true);
    }
  }

  if (const auto& mn = root["mesh"]) read_mesh(r, mn, c.mesh);

  ListenerDefaults d;
  if (const auto& dn = root["defaults"]) {
    r.only_keys(dn, "defaults",
                {"connect_timeout", "idle_timeout", "sniff_timeout", "handshake_timeout", "splice", "max_streams",
                 "source_rate_limit"});
    if (dn["connect_timeout"]) d.connect_timeout = r.duration(dn["connect_timeout"], "defaults.connect_timeout");
    if (dn["idle_timeout"]) d.idle_timeout = r.duration(dn["idle_timeout"], "defaults.idle_timeout");
    if (dn["sniff_timeout"]) d.sniff_timeout = r.duration(dn["sniff_timeout"], "defaults.sniff_timeout");
    if (dn["handshake_timeout"]) d.handshake_timeout = r.duration(dn["handshake_timeout"], "defaults.handshake_timeout");
    if (dn["splice"]) d.splice = r.boolean(dn["splice"], "defaults.splice");
    if (dn["max_streams"]) d.max_streams = static_cast<uint32_t>(r.number(dn["max_streams"], "defaults.max_streams", 10'000'000));
    if (dn["source_rate_limit"])
      d.source_rate_limit = read_source_rate_limit(r, dn["source_rate_limit"], "defaults.source_rate_limit");
  }

  if (const auto& nn = root["nodes"]) c.nodes = read_nodes(r, nn, c.base_port);
  c.remote_accept.listener = remote_accept_listener(d);
  if (const auto& ra = root["remote_accept"]) read_remote_accept(r, ra, c);
  if (const auto& rt = root["registration_tokens"]) read_registration_tokens(r, rt, c.registration_tokens);
  if (const auto& id = root["identity"]) c.identity = read_identity(r, id);
  if (const auto& az = root["authorization"]) c.authorization = read_authorization(r, az);
  if (const auto& dn = root["discovery"]) c.discovery = read_discovery(r, dn);
  if (const auto& dn = root["dns"]) c.dns = read_dns(r, dn, c.base_port);
  if (const auto& sc = root["stun_client"]) c.stun_client = read_stun_client(r, sc, c.base_port);

  if (const auto& ls = root["listeners"]) {
    if (!ls.IsSequence()) r.fail(ls, "listeners", "expected a list of listeners");
    std::set<std::string> names;
    for (size_t i = 0; i < ls.size(); ++i) {
      std::string key = "listeners[" + std::to_string(i) + "]";
      ListenerConfig l = read_listener(r, ls[i], key, c.base_port, d);
      if (!names.insert(l.name).second) r.fail(ls[i], key + ".name", "duplicate listener name '" + l.name + "'");
      if (l.protocol == Protocol::kWebPush) c.webpush[l.name] = read_webpush(r, ls[i], key);
      if (l.is(kStunServer) && ls[i]["turn"]) c.turn[l.name] = read_turn(r, ls[i]["turn"], Reader::join(key, "turn"), l);
      for (const auto& other : c.listeners) {
        // A UDP port and a TCP port of the same number are different sockets (DNS uses both).
        auto udp = [](const ListenerConfig& x) { return x.is(kDatagram) || x.is(kOwnAnswers) || x.is(kQuicTransport); };
        auto tcp = [](const ListenerConfig& x) { return !x.is(kDatagram) && !x.is(kQuicTransport); };
        bool same_transport = (udp(l) && udp(other)) || (tcp(l) && tcp(other));
        if (!l.address.empty() && other.address == l.address && same_transport)
          r.fail(ls[i], key + ".address", l.address.str() + " is already used by listener '" + other.name + "'");
      }
      if (!l.via.empty() && std::none_of(c.nodes.begin(), c.nodes.end(), [&](const NodeConfig& x) { return x.name == l.via; }))
        r.fail(ls[i]["via"], key + ".via", "unknown node '" + l.via + "' (define it under nodes)");
      c.listeners.push_back(std::move(l));
    }
  }
  apply_defaults(c);
  return c;
}

Config load_config_file(const std::string& path, const ConfigOverrides& overrides) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read config file: " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  return load_config_text(text.str(), path, overrides);
}

}  // namespace ugate

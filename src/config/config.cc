#include "config/config.h"

#include "identity/spiffe.h"
#include "base/base64.h"
#include "crypto/p256.h"

#include <openssl/crypto.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>
#if __has_include(<yaml-cpp/depthguard.h>)
#include <yaml-cpp/depthguard.h>  // YAML::DeepRecursion (yaml-cpp 0.7)
#endif

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

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
  # No tls-sni listener on +4: TLS ingress by SNI needs routes to the
  # backends of its names, and there is no default that is not an open relay.
)";

bool protocol_names_destination(std::string_view protocol) { return protocol == "hbone-h2c"; }

bool client_names_destination(std::string_view protocol) {
  return is_proxy_protocol(protocol) || protocol_names_destination(protocol) || protocol == "mesh";
}

bool is_capture_protocol(std::string_view protocol) { return protocol == "capture-out" || protocol == "capture-in"; }

namespace {

// Reads one YAML document, keeping the file name and the key path for errors.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& key, const std::string& problem) const {
    fail_at(at.IsDefined() ? at.Mark() : YAML::Mark::null_mark(), key, problem);
  }

  [[noreturn]] void fail_at(const YAML::Mark& at, const std::string& key, const std::string& problem) const {
    throw ConfigError(where(at) + ": " + (key.empty() ? std::string("(top level)") : key) + ": " + problem);
  }

  // FILE:LINE, or FILE when the line is unknown.
  std::string where(const YAML::Mark& at) const {
    return at.line >= 0 ? source_ + ":" + std::to_string(at.line + 1) : source_;
  }

  void only_keys(const YAML::Node& map, const std::string& where, std::initializer_list<const char*> allowed) const {
    if (!map.IsMap()) fail(map, where, "expected a mapping (key: value)");
    for (const auto& kv : map) {
      auto key = kv.first.as<std::string>();
      if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; })) {
        std::string list;
        for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
        fail(kv.first, join(where, key), "unknown key (expected one of: " + list + ")");
      }
    }
  }

  // A list of single values; a single value is a list of one.
  std::vector<std::string> scalars(const YAML::Node& n, const std::string& key) const {
    if (n.IsScalar()) return {n.Scalar()};
    if (!n.IsSequence()) fail(n, key, "expected a list of values");
    std::vector<std::string> out;
    for (size_t i = 0; i < n.size(); ++i) out.push_back(scalar(n[i], key + "[" + std::to_string(i) + "]"));
    return out;
  }

  std::string scalar(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail(n, key, "expected a single value");
    return n.Scalar();
  }

  Duration duration(const YAML::Node& n, const std::string& key) const {
    auto d = parse_duration(scalar(n, key));
    if (!d) fail(n, key, "invalid duration '" + n.Scalar() + "' (examples: 250ms, 5s, 2m, 1h)");
    return *d;
  }

  bool boolean(const YAML::Node& n, const std::string& key) const {
    std::string v = scalar(n, key);
    if (v == "true" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "no" || v == "off") return false;
    fail(n, key, "expected true or false, got '" + v + "'");
  }

  uint64_t number(const YAML::Node& n, const std::string& key, uint64_t max) const {
    std::string v = scalar(n, key);
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
    if (ec != std::errc() || end != v.data() + v.size() || value > max)
      fail(n, key, "expected a whole number from 0 to " + std::to_string(max) + ", got '" + v + "'");
    return value;
  }

  // A byte count: a whole number, optionally with KiB/MiB (or K/M) after it.
  uint64_t size(const YAML::Node& n, const std::string& key, uint64_t min, uint64_t max) const {
    std::string v = scalar(n, key);
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
    std::string_view unit(end, static_cast<size_t>(v.data() + v.size() - end));
    uint64_t scale = unit.empty() ? 1 : unit == "K" || unit == "KiB" ? 1024 : unit == "M" || unit == "MiB" ? 1 << 20 : 0;
    if (ec != std::errc() || scale == 0 || value > max / scale || value * scale < min)
      fail(n, key, "expected a size from " + std::to_string(min) + " to " + std::to_string(max) +
                       " bytes (a number, or with KiB or MiB), got '" + v + "'");
    return value * scale;
  }

  // HOST:PORT, where PORT may be "+N" for BASE+N.
  HostPort address(const YAML::Node& n, const std::string& key, uint16_t base, bool allow_zero) const {
    std::string text = scalar(n, key);
    auto colon = text.rfind(':');
    if (colon != std::string::npos && colon + 1 < text.size() && text[colon + 1] == '+') {
      uint64_t offset = 0;
      auto [end, ec] = std::from_chars(text.data() + colon + 2, text.data() + text.size(), offset);
      if (ec != std::errc() || end != text.data() + text.size() || base + offset > 65535)
        fail(n, key, "invalid port offset in '" + text + "' (BASE+N must stay below 65536)");
      text = text.substr(0, colon + 1) + std::to_string(base + offset);
    }
    std::string why;
    auto hp = parse_host_port(text, &why, allow_zero);
    if (!hp) fail(n, key, why + " in '" + scalar(n, key) + "'");
    return *hp;
  }

  static std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

 private:
  std::string source_;
};

struct ListenerDefaults {
  Duration connect_timeout{5'000};
  Duration idle_timeout{3'600'000};
  Duration sniff_timeout{5'000};
  Duration handshake_timeout{10'000};
  bool splice = true;
  uint32_t max_streams = 0;
};


std::string default_state_dir() {
  if (const char* env = std::getenv("UGATE_STATE_DIR"); env && *env) return env;
  if (geteuid() == 0) return "/var/lib/ugate";
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) return std::string(xdg) + "/ugate";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.local/state/ugate";
  return ".ugate";
}

std::shared_ptr<const TlsTerminate> read_terminate(const Reader& r, const YAML::Node& n, const std::string& key) {
  auto t = std::make_shared<TlsTerminate>();
  if (n.IsScalar()) {
    if (n.Scalar() != "node") r.fail(n, key, "expected 'node' (the node's own certificate) or { cert, key, alpn }");
    return t;
  }
  r.only_keys(n, key, {"cert", "key", "alpn"});
  if (n["cert"]) t->cert = r.scalar(n["cert"], Reader::join(key, "cert"));
  if (n["key"]) t->key = r.scalar(n["key"], Reader::join(key, "key"));
  if (t->cert.empty() != t->key.empty()) r.fail(n, key, "give both cert and key (or neither, for the node's own)");
  if (n["alpn"]) t->alpn = r.scalars(n["alpn"], Reader::join(key, "alpn"));
  for (const auto& a : t->alpn) {
    if (a.empty() || a.size() > 255) r.fail(n["alpn"], Reader::join(key, "alpn"), "ALPN names have 1 to 255 bytes");
  }
  return t;
}

// host/sni and port of a route or an allow entry.
RouteMatch read_match(const Reader& r, const YAML::Node& n, const std::string& key) {
  RouteMatch match;
  if (n["host"] && n["sni"]) r.fail(n, key, "give either host or sni, not both");
  for (const char* k : {"host", "sni"}) {
    if (!n[k]) continue;
    std::string pattern = r.scalar(n[k], Reader::join(key, k));
    std::transform(pattern.begin(), pattern.end(), pattern.begin(), [](unsigned char c) { return std::tolower(c); });
    if (auto err = Router::validate_pattern(pattern); !err.empty()) r.fail(n[k], Reader::join(key, k), err);
    match.host = pattern;
  }
  if (n["port"]) match.port = static_cast<uint16_t>(r.number(n["port"], Reader::join(key, "port"), 65535));
  return match;
}

Route read_route(const Reader& r, const YAML::Node& n, const std::string& key) {
  r.only_keys(n, key, {"host", "sni", "port", "forward", "terminate"});
  Route route;
  route.match = read_match(r, n, key);
  if (!n["forward"]) r.fail(n, key, "missing 'forward: HOST:PORT'");
  route.forward = r.address(n["forward"], Reader::join(key, "forward"), 0, false);
  if (n["terminate"]) route.terminate = read_terminate(r, n["terminate"], Reader::join(key, "terminate"));
  return route;
}

std::vector<ProxyUser> read_users(const Reader& r, const YAML::Node& list, const std::string& key) {
  if (!list.IsSequence()) r.fail(list, key, "expected a list of { name, password }");
  std::vector<ProxyUser> users;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string k = key + "[" + std::to_string(i) + "]";
    r.only_keys(list[i], k, {"name", "password"});
    if (!list[i]["name"] || !list[i]["password"]) r.fail(list[i], k, "needs both name and password");
    ProxyUser u{r.scalar(list[i]["name"], Reader::join(k, "name")), r.scalar(list[i]["password"], Reader::join(k, "password"))};
    // RFC 1929 carries each in one length byte; ':' would break Basic auth.
    if (u.name.empty() || u.name.size() > 255 || u.name.find(':') != std::string::npos)
      r.fail(list[i]["name"], Reader::join(k, "name"), "expected 1 to 255 bytes without ':'");
    if (u.password.empty() || u.password.size() > 255)
      r.fail(list[i]["password"], Reader::join(k, "password"), "expected 1 to 255 bytes");
    for (const auto& other : users)
      if (other.name == u.name) r.fail(list[i]["name"], Reader::join(k, "name"), "duplicate user '" + u.name + "'");
    users.push_back(std::move(u));
  }
  return users;
}

Router read_allow(const Reader& r, const YAML::Node& list, const std::string& key) {
  if (!list.IsSequence()) r.fail(list, key, "expected a list of { host, port }");
  std::vector<Route> entries;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string k = key + "[" + std::to_string(i) + "]";
    r.only_keys(list[i], k, {"host", "port"});
    if (!list[i]["host"] && !list[i]["port"]) r.fail(list[i], k, "needs host, port or both");
    entries.push_back(Route{read_match(r, list[i], k), {}});
  }
  return Router(std::move(entries));
}

WebPushConfig read_webpush(const Reader& r, const YAML::Node& n, const std::string& key) {
  for (const char* k : {"forward", "routes"})
    if (n[k]) r.fail(n[k], Reader::join(key, k), "a webpush listener serves the push service itself; remove it");
  WebPushConfig w;
  const YAML::Node& tls = n["tls"];
  if (!tls) r.fail(n, key, "a webpush listener needs 'tls: { cert: FILE, key: FILE }' (npm web-push only speaks HTTPS)");
  std::string tk = Reader::join(key, "tls");
  r.only_keys(tls, tk, {"cert", "key"});
  if (!tls["cert"] || !tls["key"]) r.fail(tls, tk, "needs both cert and key (PEM files)");
  w.tls_cert = r.scalar(tls["cert"], Reader::join(tk, "cert"));
  w.tls_key = r.scalar(tls["key"], Reader::join(tk, "key"));
  if (const YAML::Node& o = n["webpush"]) {
    std::string wk = Reader::join(key, "webpush");
    r.only_keys(o, wk, {"store", "public_url", "max_message_size", "max_pending", "max_subscriptions", "default_ttl", "max_ttl",
                        "node_mailboxes"});
    if (o["node_mailboxes"]) w.node_mailboxes = r.boolean(o["node_mailboxes"], Reader::join(wk, "node_mailboxes"));
    if (o["store"]) w.store = r.scalar(o["store"], Reader::join(wk, "store"));
    if (o["public_url"]) {
      w.public_url = r.scalar(o["public_url"], Reader::join(wk, "public_url"));
      if (!w.public_url.starts_with("https://") && !w.public_url.starts_with("http://"))
        r.fail(o["public_url"], Reader::join(wk, "public_url"), "expected an https:// URL");
    }
    if (o["max_message_size"]) {
      w.max_message_size = r.number(o["max_message_size"], Reader::join(wk, "max_message_size"), 1 << 20);
      if (w.max_message_size < 4096)
        r.fail(o["max_message_size"], Reader::join(wk, "max_message_size"), "RFC 8030 needs at least 4096");
    }
    if (o["max_pending"]) w.max_pending = r.number(o["max_pending"], Reader::join(wk, "max_pending"), 1'000'000);
    if (o["max_subscriptions"])
      w.max_subscriptions = r.number(o["max_subscriptions"], Reader::join(wk, "max_subscriptions"), 100'000'000);
    if (o["default_ttl"]) w.default_ttl = r.duration(o["default_ttl"], Reader::join(wk, "default_ttl"));
    if (o["max_ttl"]) w.max_ttl = r.duration(o["max_ttl"], Reader::join(wk, "max_ttl"));
  }
  return w;
}

ListenerConfig read_listener(const Reader& r, const YAML::Node& n, const std::string& key, uint16_t base,
                             const ListenerDefaults& d) {
  r.only_keys(n, key,
              {"name", "address", "protocol", "forward", "routes", "connect_timeout", "idle_timeout", "sniff_timeout",
               "handshake_timeout", "splice", "max_streams", "tproxy", "users", "allow", "udp_idle_timeout", "tls", "webpush",
               "via", "proxy_protocol", "response_timeout", "reach_admin"});
  ListenerConfig l;
  l.connect_timeout = d.connect_timeout;
  l.idle_timeout = d.idle_timeout;
  l.sniff_timeout = d.sniff_timeout;
  l.handshake_timeout = d.handshake_timeout;
  l.splice = d.splice;
  l.max_streams = d.max_streams;
  if (!n["address"]) r.fail(n, key, "missing 'address: HOST:PORT'");
  l.address = r.address(n["address"], Reader::join(key, "address"), base, true);
  l.name = n["name"] ? r.scalar(n["name"], Reader::join(key, "name")) : l.address.str();
  if (n["protocol"]) l.protocol = r.scalar(n["protocol"], Reader::join(key, "protocol"));
  static const std::set<std::string> protocols = {"tcp", "tls-sni", "socks5", "http-proxy", "auto", "capture-out",
                                                   "capture-in", "webpush", "hbone-h2c", "mesh", "udp"};
  if (!protocols.count(l.protocol))
    r.fail(n["protocol"], Reader::join(key, "protocol"),
           "unknown protocol '" + l.protocol +
               "' (supported: tcp, tls-sni, socks5, http-proxy, auto, capture-out, capture-in, webpush, hbone-h2c, mesh, udp)");
  const bool proxy = is_proxy_protocol(l.protocol);
  for (const char* k : {"users", "allow"}) {
    if (n[k] && !proxy)
      r.fail(n[k], Reader::join(key, k), std::string("only for socks5, http-proxy and auto listeners"));
  }
  if (n["udp_idle_timeout"] && l.protocol != "socks5" && l.protocol != "auto")
    r.fail(n["udp_idle_timeout"], Reader::join(key, "udp_idle_timeout"), "only for socks5 and auto listeners");
  if (n["users"]) l.users = read_users(r, n["users"], Reader::join(key, "users"));
  if (n["allow"]) l.allow = read_allow(r, n["allow"], Reader::join(key, "allow"));
  if (n["udp_idle_timeout"])
    l.udp_idle_timeout = r.duration(n["udp_idle_timeout"], Reader::join(key, "udp_idle_timeout"));
  if (n["reach_admin"]) {
    const std::string at = Reader::join(key, "reach_admin");
    if (!client_names_destination(l.protocol))
      r.fail(n["reach_admin"], at, "only for listeners whose clients name the destination (socks5, http-proxy, auto, hbone-h2c, mesh)");
    l.reach_admin = r.boolean(n["reach_admin"], at);
  }
  if (n["response_timeout"]) {
    const std::string at = Reader::join(key, "response_timeout");
    if (l.protocol != "http-proxy" && l.protocol != "auto") r.fail(n["response_timeout"], at, "only for http-proxy and auto listeners");
    l.response_timeout = r.duration(n["response_timeout"], at);
    if (l.response_timeout.count() == 0) r.fail(n["response_timeout"], at, "must be above 0");
  }
  if (l.protocol == "webpush") {
    l.webpush = read_webpush(r, n, key);
    return l;
  }
  for (const char* k : {"tls", "webpush"})
    if (n[k]) r.fail(n[k], Reader::join(key, k), "only for protocol webpush");
  const bool udp = l.protocol == "udp";
  if (udp) {  // datagram flows are short-lived and cost a descriptor each: their own defaults
    l.idle_timeout = kUdpIdleTimeout;
    l.max_streams = kUdpMaxFlows;
  }
  if (n["connect_timeout"]) l.connect_timeout = r.duration(n["connect_timeout"], Reader::join(key, "connect_timeout"));
  if (n["idle_timeout"]) l.idle_timeout = r.duration(n["idle_timeout"], Reader::join(key, "idle_timeout"));
  if (n["sniff_timeout"]) l.sniff_timeout = r.duration(n["sniff_timeout"], Reader::join(key, "sniff_timeout"));
  if (n["handshake_timeout"])
    l.handshake_timeout = r.duration(n["handshake_timeout"], Reader::join(key, "handshake_timeout"));
  if (n["splice"]) l.splice = r.boolean(n["splice"], Reader::join(key, "splice"));
  if (n["max_streams"])
    l.max_streams = static_cast<uint32_t>(r.number(n["max_streams"], Reader::join(key, "max_streams"), 10'000'000));
  if (n["tproxy"]) {
    l.tproxy = r.boolean(n["tproxy"], Reader::join(key, "tproxy"));
    if (!is_capture_protocol(l.protocol) && !udp)
      r.fail(n["tproxy"], Reader::join(key, "tproxy"),
             "only capture listeners (capture-out, capture-in) and udp take tproxy");
  }
  if (n["via"]) {
    if (udp || protocol_names_destination(l.protocol) || l.protocol == "mesh")
      r.fail(n["via"], Reader::join(key, "via"), "only for listeners that dial TCP destinations (not " + l.protocol + ")");
    l.via = r.scalar(n["via"], Reader::join(key, "via"));  // checked against the nodes once all are read
  }
  if (n["proxy_protocol"]) {
    std::string v = r.scalar(n["proxy_protocol"], Reader::join(key, "proxy_protocol"));
    if (v != "v2" && v != "off") r.fail(n["proxy_protocol"], Reader::join(key, "proxy_protocol"), "expected v2 or off, got '" + v + "'");
    // http-proxy and auto (its HTTP clients) reuse upstream connections across absolute-form requests.
    if ((udp || l.protocol == "http-proxy" || l.protocol == "auto") && v == "v2")
      r.fail(n["proxy_protocol"], Reader::join(key, "proxy_protocol"),
             "only for listeners that forward whole streams (not " + l.protocol + ")");
    l.proxy_protocol = v == "v2";
  }
  if (udp && l.idle_timeout.count() == 0) r.fail(n["idle_timeout"], Reader::join(key, "idle_timeout"), "must be above 0");
  if (l.connect_timeout.count() == 0) r.fail(n["connect_timeout"], Reader::join(key, "connect_timeout"), "must be above 0");

  std::vector<Route> routes;
  if (n["forward"] && n["routes"]) r.fail(n, key, "give either 'forward' or 'routes', not both");
  if (protocol_names_destination(l.protocol)) {
    if (n["forward"] || n["routes"])
      r.fail(n["forward"] ? n["forward"] : n["routes"], key,
             "a " + l.protocol + " listener takes each stream's destination from its request: no forward or routes");
  } else if (n["forward"] && l.protocol == "auto") {
    r.fail(n["forward"], Reader::join(key, "forward"),
           "an auto listener's proxy clients name their destination; TLS clients are routed by SNI "
           "through 'routes' (a route without sni is the default)");
  } else if (n["forward"]) {
    routes.push_back(Route{{}, r.address(n["forward"], Reader::join(key, "forward"), 0, false)});
  } else if (n["routes"]) {
    const YAML::Node& list = n["routes"];
    if (!list.IsSequence()) r.fail(list, Reader::join(key, "routes"), "expected a list of routes");
    for (size_t i = 0; i < list.size(); ++i)
      routes.push_back(read_route(r, list[i], Reader::join(key, "routes") + "[" + std::to_string(i) + "]"));
  } else if (l.protocol == "tcp" || l.protocol == "tls-sni" || (udp && !l.tproxy)) {
    r.fail(n, key, "a " + l.protocol + " listener needs 'forward: HOST:PORT' (or 'routes')" +
                       (udp ? ", or tproxy: true" : ""));
  }
  if (!routes.empty() && (l.protocol == "socks5" || l.protocol == "http-proxy"))
    r.fail(n[n["forward"] ? "forward" : "routes"], Reader::join(key, n["forward"] ? "forward" : "routes"),
           "a " + l.protocol + " listener's clients name the destination: no forward or routes (limit them with allow)");
  for (size_t i = 0; i < routes.size(); ++i) {
    if (routes[i].terminate && l.protocol != "tls-sni" && l.protocol != "auto")
      r.fail(n["routes"][i]["terminate"], Reader::join(key, "routes") + "[" + std::to_string(i) + "].terminate",
             "only tls-sni and auto listeners terminate TLS per route");
  }
  l.router = Router(std::move(routes));
  return l;
}

void read_mesh(const Reader& r, const YAML::Node& n, MeshConfig& m) {
  r.only_keys(n, "mesh",
              {"stream_window", "connection_window", "max_frame", "max_concurrent_streams", "streams_per_connection",
               "pool_idle_timeout", "keepalive_interval", "keepalive_timeout", "connect_timeout"});
  constexpr uint64_t kMaxWindow = (1u << 31) - 1;  // RFC 9113 6.9.1
  if (n["stream_window"]) m.stream_window = static_cast<uint32_t>(r.size(n["stream_window"], "mesh.stream_window", 65535, kMaxWindow));
  if (n["connection_window"])
    m.connection_window = static_cast<uint32_t>(r.size(n["connection_window"], "mesh.connection_window", 65535, kMaxWindow));
  if (n["max_frame"]) m.max_frame = static_cast<uint32_t>(r.size(n["max_frame"], "mesh.max_frame", 16384, (1u << 24) - 1));
  if (n["max_concurrent_streams"])
    m.max_concurrent_streams = static_cast<uint32_t>(r.number(n["max_concurrent_streams"], "mesh.max_concurrent_streams", 1'000'000));
  if (n["streams_per_connection"])
    m.streams_per_connection = static_cast<uint32_t>(r.number(n["streams_per_connection"], "mesh.streams_per_connection", 1'000'000));
  if (m.streams_per_connection == 0) r.fail(n["streams_per_connection"], "mesh.streams_per_connection", "must be above 0");
  if (n["pool_idle_timeout"]) m.pool_idle_timeout = r.duration(n["pool_idle_timeout"], "mesh.pool_idle_timeout");
  // Connections tick once a second: shorter keepalive times cannot be kept.
  auto seconds = [&](const char* k, Duration& out) {
    if (!n[k]) return;
    out = r.duration(n[k], std::string("mesh.") + k);
    if (out < Duration(1000)) r.fail(n[k], std::string("mesh.") + k, "must be at least 1s");
  };
  seconds("keepalive_interval", m.keepalive_interval);
  seconds("keepalive_timeout", m.keepalive_timeout);
  if (n["connect_timeout"]) {
    m.connect_timeout = r.duration(n["connect_timeout"], "mesh.connect_timeout");
    if (m.connect_timeout.count() == 0) r.fail(n["connect_timeout"], "mesh.connect_timeout", "must be above 0");
  }
}

// A node's name is a DNS label: it appears in destinations as NAME:PORT and NAME.<trust-domain>:PORT.
std::string check_node_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return "expected 1 to 63 characters";
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (!std::islower(c) && !std::isdigit(c) && c != '-')
      return "'" + std::string(name) + "' is not a DNS label (lower-case letters, digits and '-')";
  }
  if (name.front() == '-' || name.back() == '-') return "'" + std::string(name) + "' may not start or end with '-'";
  return "";
}

std::string check_node_ref(std::string_view id) {
  if (is_spiffe_ref(id)) return parse_spiffe_id(id) ? "" : "'" + std::string(id) + "' is not a valid SPIFFE ID";
  bool base32 = id.size() == 52 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
  });
  return base32 ? "" : "expected a SPIFFE ID (spiffe://...) or a node ID (52 base32 characters, as `ugate id` prints)";
}

std::vector<NodeConfig> read_nodes(const Reader& r, const YAML::Node& n, uint16_t base) {
  if (!n.IsMap()) r.fail(n, "nodes", "expected a mapping of NAME: { address, id, via }");
  std::vector<NodeConfig> nodes;
  for (const auto& kv : n) {
    NodeConfig node;
    node.name = kv.first.as<std::string>();
    std::string key = "nodes." + node.name;
    if (auto err = check_node_name(node.name); !err.empty()) r.fail(kv.first, key, err);
    const YAML::Node& v = kv.second;
    r.only_keys(v, key, {"address", "id", "via"});
    if (v["address"]) node.address = r.address(v["address"], Reader::join(key, "address"), base, false);
    if (!v["id"]) r.fail(v, key, "missing 'id': the node's SPIFFE ID or node ID (`ugate id` on it prints both)");
    node.id = r.scalar(v["id"], Reader::join(key, "id"));
    if (auto err = check_node_ref(node.id); !err.empty()) r.fail(v["id"], Reader::join(key, "id"), err);
    if (v["via"]) node.via = r.scalar(v["via"], Reader::join(key, "via"));
    nodes.push_back(std::move(node));
  }
  // Every via names a node, and following them ends (at most kMaxMeshHops nodes in a path).
  auto find = [&](std::string_view name) -> const NodeConfig* {
    for (const auto& x : nodes)
      if (x.name == name) return &x;
    return nullptr;
  };
  for (const auto& node : nodes) {
    size_t hops = 1;
    for (const NodeConfig* at = &node; !at->via.empty(); ++hops) {
      const NodeConfig* next = find(at->via);
      if (!next) r.fail(n[at->name]["via"], "nodes." + at->name + ".via", "unknown node '" + at->via + "'");
      if (hops >= kMaxMeshHops)
        r.fail(n[node.name]["via"], "nodes." + node.name + ".via",
               "a path of more than " + std::to_string(kMaxMeshHops) + " nodes (or a loop)");
      at = next;
    }
  }
  return nodes;
}

IdentityConfig read_identity(const Reader& r, const YAML::Node& n) {
  const std::string key = "identity";
  r.only_keys(n, key, {"trust_domain", "namespace", "name", "dns", "cert", "key", "roots", "cert_ttl", "ca"});
  IdentityConfig id;
  auto field = [&](const char* k) { return Reader::join(key, k); };
  if (n["trust_domain"]) {
    id.trust_domain = r.scalar(n["trust_domain"], field("trust_domain"));
    if (auto err = check_trust_domain(id.trust_domain); !err.empty()) r.fail(n["trust_domain"], field("trust_domain"), err);
  }
  for (auto [k, out] : {std::pair{"namespace", &id.ns}, std::pair{"name", &id.name}}) {
    if (!n[k]) continue;
    *out = r.scalar(n[k], field(k));
    if (auto err = check_path_segment(*out); !err.empty()) r.fail(n[k], field(k), err);
  }
  if (n["dns"]) id.dns = r.scalars(n["dns"], field("dns"));
  if (n["cert"]) id.cert = r.scalar(n["cert"], field("cert"));
  if (n["key"]) id.key = r.scalar(n["key"], field("key"));
  if (id.cert.empty() != id.key.empty()) r.fail(n, key, "give both cert and key (an existing PKI's files), or neither");
  if (n["roots"]) id.roots = r.scalars(n["roots"], field("roots"));
  if (n["cert_ttl"]) {
    id.cert_ttl = r.duration(n["cert_ttl"], field("cert_ttl"));
    if (id.cert_ttl < Duration(2'000)) r.fail(n["cert_ttl"], field("cert_ttl"), "must be 2s or more");
  }
  if (const auto& ca = n["ca"]) {
    if (ca.IsScalar()) {
      std::string v = ca.Scalar();
      if (v == "local") id.ca = IdentityConfig::Ca::kLocal;
      else if (v == "none") id.ca = IdentityConfig::Ca::kNone;
      else r.fail(ca, field("ca"), "expected local, none, { dir: DIR } or { address: HOST:PORT, token_file: FILE, root: FILE }");
    } else {
      r.only_keys(ca, field("ca"), {"dir", "address", "token", "token_file", "root"});
      if (ca["dir"] && ca["address"]) r.fail(ca, field("ca"), "give either dir (a local CA) or address (a remote one)");
      if (ca["dir"]) {
        id.ca = IdentityConfig::Ca::kLocal;
        id.ca_dir = r.scalar(ca["dir"], field("ca.dir"));
      } else if (ca["address"]) {
        id.ca = IdentityConfig::Ca::kRemote;
        id.ca_address = r.address(ca["address"], field("ca.address"), 0, false);
        if (ca["token"]) id.ca_token = r.scalar(ca["token"], field("ca.token"));
        if (ca["token_file"]) id.ca_token_file = r.scalar(ca["token_file"], field("ca.token_file"));
        if (ca["root"]) id.ca_root = r.scalar(ca["root"], field("ca.root"));
      } else {
        r.fail(ca, field("ca"), "needs dir (a local CA) or address (a remote one)");
      }
    }
  }
  return id;
}

AuthzPolicy read_authorization(const Reader& r, const YAML::Node& n) {
  const std::string key = "authorization";
  r.only_keys(n, key, {"default", "rules"});
  AuthzPolicy::Default def = AuthzPolicy::Default::kAuto;
  if (n["default"]) {
    std::string v = r.scalar(n["default"], key + ".default");
    if (v == "allow") def = AuthzPolicy::Default::kAllow;
    else if (v == "deny") def = AuthzPolicy::Default::kDeny;
    else if (v != "auto") r.fail(n["default"], key + ".default", "expected auto, allow or deny, got '" + v + "'");
  }
  std::vector<AuthzRule> rules;
  if (const auto& list = n["rules"]) {
    if (!list.IsSequence()) r.fail(list, key + ".rules", "expected a list of rules");
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node& rn = list[i];
      std::string rk = key + ".rules[" + std::to_string(i) + "]";
      r.only_keys(rn, rk, {"name", "action", "from", "to", "door"});
      AuthzRule rule;
      rule.name = rn["name"] ? r.scalar(rn["name"], Reader::join(rk, "name")) : "rule" + std::to_string(i);
      std::string action = rn["action"] ? r.scalar(rn["action"], Reader::join(rk, "action")) : "";
      if (action != "allow" && action != "deny") r.fail(rn, Reader::join(rk, "action"), "expected allow or deny");
      rule.allow = action == "allow";
      if (const auto& from = rn["from"]) {
        std::string fk = Reader::join(rk, "from");
        r.only_keys(from, fk, {"spiffe", "node"});
        if (from["spiffe"]) rule.spiffe = r.scalars(from["spiffe"], Reader::join(fk, "spiffe"));
        for (const auto& p : rule.spiffe) {
          if (auto err = AuthzPolicy::check_spiffe_pattern(p); !err.empty()) r.fail(from["spiffe"], Reader::join(fk, "spiffe"), err);
        }
        if (from["node"]) rule.node = r.scalars(from["node"], Reader::join(fk, "node"));
      }
      if (const auto& to = rn["to"]) {
        std::string tk = Reader::join(rk, "to");
        r.only_keys(to, tk, {"host", "port", "sni"});
        for (auto [k, out] : {std::pair{"host", &rule.host}, std::pair{"sni", &rule.sni}}) {
          if (!to[k]) continue;
          *out = r.scalars(to[k], Reader::join(tk, k));
          for (const auto& p : *out) {
            if (auto err = Router::validate_pattern(p); !err.empty()) r.fail(to[k], Reader::join(tk, k), err);
          }
        }
        if (to["port"]) {
          const YAML::Node& ports = to["port"];
          std::string pk = Reader::join(tk, "port");
          if (ports.IsScalar()) rule.port.push_back(static_cast<uint16_t>(r.number(ports, pk, 65535)));
          for (size_t j = 0; ports.IsSequence() && j < ports.size(); ++j)
            rule.port.push_back(static_cast<uint16_t>(r.number(ports[j], pk, 65535)));
        }
      }
      if (rn["door"]) rule.door = r.scalars(rn["door"], Reader::join(rk, "door"));
      rules.push_back(std::move(rule));
    }
  }
  return AuthzPolicy(std::move(rules), def);
}

DiscoveryConfig read_discovery(const Reader& r, const YAML::Node& n) {
  const std::string key = "discovery";
  DiscoveryConfig d;
  d.ttl = 3 * d.interval;
  if (n.IsScalar()) {
    d.enabled = r.boolean(n, key);
    return d;
  }
  r.only_keys(n, key, {"enabled", "port", "interval", "ttl", "max_clock_skew", "interfaces"});
  d.enabled = n["enabled"] ? r.boolean(n["enabled"], Reader::join(key, "enabled")) : true;
  if (n["port"]) {
    d.port = static_cast<uint16_t>(r.number(n["port"], Reader::join(key, "port"), 65535));
    if (d.port == 0) r.fail(n["port"], Reader::join(key, "port"), "must be above 0");
  }
  if (n["interval"]) d.interval = r.duration(n["interval"], Reader::join(key, "interval"));
  if (d.interval < Duration(100)) r.fail(n["interval"], Reader::join(key, "interval"), "must be 100ms or more");
  d.ttl = 3 * d.interval;
  if (n["ttl"]) {
    d.ttl = r.duration(n["ttl"], Reader::join(key, "ttl"));
    if (d.ttl <= d.interval) r.fail(n["ttl"], Reader::join(key, "ttl"), "must be longer than the interval");
  }
  if (n["max_clock_skew"]) d.max_clock_skew = r.duration(n["max_clock_skew"], Reader::join(key, "max_clock_skew"));
  if (d.max_clock_skew < Duration(1000))
    r.fail(n["max_clock_skew"], Reader::join(key, "max_clock_skew"), "must be 1s or more");
  if (n["interfaces"]) d.interfaces = r.scalars(n["interfaces"], Reader::join(key, "interfaces"));
  return d;
}

ListenerConfig remote_accept_listener(const ListenerDefaults& d) {
  ListenerConfig l;
  l.name = "remote-accept";
  l.protocol = "mesh";
  l.connect_timeout = d.connect_timeout;
  l.idle_timeout = d.idle_timeout;
  l.handshake_timeout = d.handshake_timeout;
  l.splice = d.splice;
  l.max_streams = d.max_streams;
  return l;
}

// remote_accept: [gw, ...] or { gateways: [...], backoff_min, backoff_max, proxy_protocol }
void read_remote_accept(const Reader& r, const YAML::Node& n, Config& c) {
  const std::string key = "remote_accept";
  RemoteAcceptConfig& ra = c.remote_accept;
  if (n.IsMap()) {
    r.only_keys(n, key, {"gateways", "backoff_min", "backoff_max", "proxy_protocol", "token_file"});
    if (n["token_file"]) ra.token_file = r.scalar(n["token_file"], key + ".token_file");
    if (!n["gateways"]) r.fail(n, key, "missing 'gateways: [NODE, ...]'");
    if (n["backoff_min"]) ra.backoff_min = r.duration(n["backoff_min"], key + ".backoff_min");
    if (n["backoff_max"]) ra.backoff_max = r.duration(n["backoff_max"], key + ".backoff_max");
    if (ra.backoff_min < Duration(100)) r.fail(n["backoff_min"], key + ".backoff_min", "must be 100ms or more");
    if (ra.backoff_max < ra.backoff_min) r.fail(n["backoff_max"], key + ".backoff_max", "must not be below backoff_min");
    if (n["proxy_protocol"]) {
      std::string v = r.scalar(n["proxy_protocol"], key + ".proxy_protocol");
      if (v != "v2" && v != "off") r.fail(n["proxy_protocol"], key + ".proxy_protocol", "expected v2 or off, got '" + v + "'");
      ra.listener.proxy_protocol = v == "v2";
    }
  }
  const YAML::Node list = n.IsMap() ? n["gateways"] : n;  // (a yaml-cpp Node assigned to would alias)
  ra.gateways = r.scalars(list, n.IsMap() ? key + ".gateways" : key);
  for (size_t i = 0; i < ra.gateways.size(); ++i) {
    const std::string& g = ra.gateways[i];
    auto it = std::find_if(c.nodes.begin(), c.nodes.end(), [&](const NodeConfig& x) { return x.name == g; });
    const YAML::Node at = list.IsSequence() ? list[i] : list;
    if (it == c.nodes.end()) r.fail(at, key, "unknown node '" + g + "' (define the gateway under nodes)");
    if (it->address.port == 0) r.fail(at, key, "gateway '" + g + "' needs an address under nodes");
  }
}

// registration_tokens: { issuers: [KEY, ...], max_lifetime }
void read_registration_tokens(const Reader& r, const YAML::Node& n, RegistrationTokensConfig& t) {
  const std::string key = "registration_tokens";
  r.only_keys(n, key, {"issuers", "max_lifetime"});
  if (!n["issuers"]) r.fail(n, key, "missing 'issuers: [PUBLIC_KEY, ...]' (base64url P-256 keys)");
  t.issuers = r.scalars(n["issuers"], key + ".issuers");
  for (size_t i = 0; i < t.issuers.size(); ++i) {
    auto raw = base64url_decode(t.issuers[i]);
    if (!raw || !crypto::p256_public_from_raw(*raw))  // on the curve, uncompressed
      r.fail(n["issuers"].IsSequence() ? n["issuers"][i] : n["issuers"], key + ".issuers",
             "expected a base64url uncompressed P-256 public key (65 octets), got '" + t.issuers[i] + "'");
  }
  if (n["max_lifetime"]) t.max_lifetime = r.duration(n["max_lifetime"], key + ".max_lifetime");
}

void apply_defaults(Config& c) {
  if (c.workers == 0) c.workers = std::max(1u, std::thread::hardware_concurrency());
  if (c.state_dir.empty()) c.state_dir = default_state_dir();
  for (auto& l : c.listeners)
    if (l.webpush && l.webpush->store.empty()) l.webpush->store = c.state_dir + "/webpush-" + l.name + ".db";
}

// Lists and mappings nested deeper than this are refused. ugate's schema needs
// about 7 levels; yaml-cpp's parser recurses once per level, and its own guard
// (DeepRecursion, at 500 in 0.7) says only "bad file", and for [ and { nesting
// gives the end of the text as the line.
constexpr size_t kMaxYamlNesting = 100;
std::string too_deep() { return "nesting deeper than " + std::to_string(kMaxYamlNesting) + " levels"; }

// The whole document's shape, checked from the parser's events before the
// tree is built: nesting (the line of the list or mapping that goes too deep),
// keys that are lists or mappings (the reader takes keys as strings), and
// duplicate keys (yaml-cpp keeps both, and lookups see only the first). It
// does not recurse, and it sees an alias once rather than what it refers to,
// so its cost is linear in the text however the document nests or aliases.
class StructureCheck : public YAML::EventHandler {
 public:
  explicit StructureCheck(const Reader& r) : r_(r) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { scalar(mark, anchor, "null"); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    scalar(mark, anchor, value);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);  // a scalar's text, or nullopt for a list or mapping
    std::optional<std::string> text = it != anchors_.end() ? it->second : std::nullopt;
    if (node(mark, text) && !text) not_a_single_value(mark, frames_.size());
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor, false);
  }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor, true);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    bool map;
    bool is_key;                                     // a list or mapping used as a key (refused once it ends)
    YAML::Mark mark;                                 // where it starts
    size_t items = 0;                                // a list: entries so far
    bool want_key = true;                            // a mapping: the next node is a key
    std::string key;                                 // a mapping: the current entry's key
    std::unordered_map<std::string, int> keys = {};  // a mapping: its keys, each with its line
  };

  void scalar(const YAML::Mark& mark, YAML::anchor_t anchor, const std::string& value) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = value;
    node(mark, value);
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, bool map) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = std::nullopt;
    bool is_key = node(mark, std::nullopt);
    if (frames_.size() >= kMaxYamlNesting) throw ConfigError(r_.where(mark) + ": invalid YAML: " + too_deep());
    frames_.push_back(Frame{map, is_key, mark});
  }

  // A key that is a list or mapping is refused when it ends: an error inside
  // it (nesting, or YAML that does not parse) comes first.
  void close() {
    if (frames_.back().is_key) not_a_single_value(frames_.back().mark, frames_.size() - 1);
    frames_.pop_back();
  }

  // A node starts in the innermost open list or mapping; `text` is a
  // scalar's. Whether it is a key.
  bool node(const YAML::Mark& mark, const std::optional<std::string>& text) {
    if (frames_.empty()) return false;  // the document itself
    Frame& in = frames_.back();
    if (!in.map) {
      ++in.items;
      return false;
    }
    const bool is_key = in.want_key;
    in.want_key = !is_key;  // after a key, its value
    if (!is_key) return false;
    if (!text) {  // a list or mapping (refused by the caller)
      in.key = "?";
      return true;
    }
    in.key = *text;
    auto [first, added] = in.keys.emplace(*text, mark.line);
    if (!added)
      r_.fail_at(mark, path(frames_.size()),
                 "duplicate key (first given on line " + std::to_string(first->second + 1) + ")");
    return true;
  }

  // A key of the mapping frames_[depth - 1].
  [[noreturn]] void not_a_single_value(const YAML::Mark& mark, size_t depth) const {
    r_.fail_at(mark, path(depth - 1), "a key must be a single value, not a list or mapping");
  }

  // The key path through the outermost `depth` open lists and mappings, as the
  // reader spells it: listeners[0].routes[1].sni
  std::string path(size_t depth) const {
    std::string out;
    for (size_t i = 0; i < depth; ++i) {
      const Frame& f = frames_[i];
      if (f.map) out += (out.empty() ? "" : ".") + f.key;
      else out += "[" + std::to_string(f.items - 1) + "]";
    }
    return out;
  }

  const Reader& r_;
  std::vector<Frame> frames_;
  std::unordered_map<YAML::anchor_t, std::optional<std::string>> anchors_;
};

// Parses the document, once for StructureCheck and once into the tree.
YAML::Node parse_yaml(const Reader& r, const std::string& yaml) {
  try {
    std::istringstream in(yaml);
    YAML::Parser parser(in);
    StructureCheck check(r);
    parser.HandleNextDocument(check);
    return YAML::Load(yaml);
#if __has_include(<yaml-cpp/depthguard.h>)
  } catch (const YAML::DeepRecursion&) {  // not reached while kMaxYamlNesting is well below yaml-cpp's limit
    throw ConfigError(r.where(YAML::Mark::null_mark()) + ": invalid YAML: " + too_deep());
#endif
  } catch (const YAML::Exception& e) {
    std::string column = e.mark.column >= 0 ? " (column " + std::to_string(e.mark.column + 1) + ")" : "";
    throw ConfigError(r.where(e.mark) + ": invalid YAML: " + e.msg + column);
  }
}

}  // namespace

bool is_proxy_protocol(std::string_view protocol) {
  return protocol == "socks5" || protocol == "http-proxy" || protocol == "auto";
}

bool allows(const ListenerConfig& l, const HostPort& destination) {
  return l.allow.routes().empty() || l.allow.match(destination.host, destination.port) != nullptr;
}

bool verify_user(const ListenerConfig& l, std::string_view user, std::string_view password) {
  for (const auto& u : l.users) {
    if (u.name != user) continue;
    return u.password.size() == password.size() &&
           CRYPTO_memcmp(u.password.data(), password.data(), password.size()) == 0;
  }
  return false;
}

Config load_config_text(const std::string& yaml, const std::string& source, const ConfigOverrides& o) {
  Reader r(source);
  YAML::Node root = parse_yaml(r, yaml);
  Config c;
  c.source = source;
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  r.only_keys(root, "",
              {"base_port", "workers", "drain_timeout", "log_level", "state_dir", "access_log", "admin", "defaults",
               "mesh", "identity", "authorization", "listeners", "discovery", "nodes", "remote_accept",
               "registration_tokens"});
  if (root["base_port"]) c.base_port = static_cast<uint16_t>(r.number(root["base_port"], "base_port", 65535 - 9));
  if (o.base_port) c.base_port = *o.base_port;
  if (root["workers"]) c.workers = static_cast<unsigned>(r.number(root["workers"], "workers", 256));
  if (root["drain_timeout"]) c.drain_timeout = r.duration(root["drain_timeout"], "drain_timeout");
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
                {"connect_timeout", "idle_timeout", "sniff_timeout", "handshake_timeout", "splice", "max_streams"});
    if (dn["connect_timeout"]) d.connect_timeout = r.duration(dn["connect_timeout"], "defaults.connect_timeout");
    if (dn["idle_timeout"]) d.idle_timeout = r.duration(dn["idle_timeout"], "defaults.idle_timeout");
    if (dn["sniff_timeout"]) d.sniff_timeout = r.duration(dn["sniff_timeout"], "defaults.sniff_timeout");
    if (dn["handshake_timeout"]) d.handshake_timeout = r.duration(dn["handshake_timeout"], "defaults.handshake_timeout");
    if (dn["splice"]) d.splice = r.boolean(dn["splice"], "defaults.splice");
    if (dn["max_streams"]) d.max_streams = static_cast<uint32_t>(r.number(dn["max_streams"], "defaults.max_streams", 10'000'000));
  }

  if (const auto& nn = root["nodes"]) c.nodes = read_nodes(r, nn, c.base_port);
  c.remote_accept.listener = remote_accept_listener(d);
  if (const auto& ra = root["remote_accept"]) read_remote_accept(r, ra, c);
  if (const auto& rt = root["registration_tokens"]) read_registration_tokens(r, rt, c.registration_tokens);
  if (const auto& id = root["identity"]) c.identity = read_identity(r, id);
  if (const auto& az = root["authorization"]) c.authorization = read_authorization(r, az);
  if (const auto& dn = root["discovery"]) c.discovery = read_discovery(r, dn);

  if (const auto& ls = root["listeners"]) {
    if (!ls.IsSequence()) r.fail(ls, "listeners", "expected a list of listeners");
    std::set<std::string> names;
    for (size_t i = 0; i < ls.size(); ++i) {
      std::string key = "listeners[" + std::to_string(i) + "]";
      ListenerConfig l = read_listener(r, ls[i], key, c.base_port, d);
      if (!names.insert(l.name).second) r.fail(ls[i], key + ".name", "duplicate listener name '" + l.name + "'");
      for (const auto& other : c.listeners) {
        // A UDP port and a TCP port of the same number are different sockets (DNS uses both).
        bool same_transport = (l.protocol == "udp") == (other.protocol == "udp");
        if (l.address.port != 0 && other.address == l.address && same_transport)
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

namespace {
nlohmann::json identity_json(const IdentityConfig& id) {
  using nlohmann::json;
  json out = {{"trust_domain", id.trust_domain.empty() ? json("(from the certificate)") : json(id.trust_domain)},
              {"cert_ttl", format_duration(id.cert_ttl)}};
  if (!id.ns.empty()) out["namespace"] = id.ns;
  if (!id.name.empty()) out["name"] = id.name;
  if (!id.dns.empty()) out["dns"] = id.dns;
  if (!id.cert.empty()) out["cert"] = id.cert, out["key"] = id.key;
  if (!id.roots.empty()) out["roots"] = id.roots;
  switch (id.ca) {
    case IdentityConfig::Ca::kAuto: out["ca"] = "auto"; break;
    case IdentityConfig::Ca::kLocal: out["ca"] = id.ca_dir.empty() ? json("local") : json{{"dir", id.ca_dir}}; break;
    case IdentityConfig::Ca::kNone: out["ca"] = "none"; break;
    case IdentityConfig::Ca::kRemote:  // the token is a secret: only whether there is one
      out["ca"] = {{"address", id.ca_address.str()}, {"token", id.ca_token.empty() ? "" : "(set)"},
                   {"token_file", id.ca_token_file}, {"root", id.ca_root}};
      break;
  }
  return out;
}
nlohmann::json authorization_json(const AuthzPolicy& p) {
  using nlohmann::json;
  static constexpr const char* defaults[] = {"auto", "allow", "deny"};
  json rules = json::array();
  for (const auto& rule : p.rules()) {
    json j = {{"name", rule.name}, {"action", rule.allow ? "allow" : "deny"}};
    if (!rule.spiffe.empty()) j["from"]["spiffe"] = rule.spiffe;
    if (!rule.node.empty()) j["from"]["node"] = rule.node;
    if (!rule.host.empty()) j["to"]["host"] = rule.host;
    if (!rule.port.empty()) j["to"]["port"] = rule.port;
    if (!rule.sni.empty()) j["to"]["sni"] = rule.sni;
    if (!rule.door.empty()) j["door"] = rule.door;
    rules.push_back(j);
  }
  return {{"default", defaults[static_cast<int>(p.default_action())]}, {"rules", rules}};
}

nlohmann::json nodes_json(const std::vector<NodeConfig>& nodes) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& n : nodes) {
    out[n.name] = {{"id", n.id}};
    if (n.address.port) out[n.name]["address"] = n.address.str();
    if (!n.via.empty()) out[n.name]["via"] = n.via;
  }
  return out;
}

nlohmann::json discovery_json(const DiscoveryConfig& d) {
  if (!d.enabled) return "off";
  return {{"port", d.port},
          {"interval", format_duration(d.interval)},
          {"ttl", format_duration(d.ttl)},
          {"max_clock_skew", format_duration(d.max_clock_skew)},
          {"interfaces", d.interfaces}};
}

}  // namespace

nlohmann::json to_json(const Config& c) {
  using nlohmann::json;
  json listeners = json::array();
  for (const auto& l : c.listeners) {
    json routes = json::array();
    for (const auto& route : l.router.routes()) {
      json jr = {{"forward", route.forward.str()}};
      if (!route.match.host.empty()) jr["host"] = route.match.host;
      if (route.match.port) jr["port"] = route.match.port;
      if (const auto& t = route.terminate) {
        jr["terminate"] = t->cert.empty() ? json("node") : json{{"cert", t->cert}, {"key", t->key}};
        if (!t->alpn.empty()) jr["terminate_alpn"] = t->alpn;
      }
      routes.push_back(jr);
    }
    listeners.push_back({{"name", l.name},
                         {"address", l.address.str()},
                         {"protocol", l.protocol},
                         {"routes", routes},
                         {"connect_timeout", format_duration(l.connect_timeout)},
                         {"idle_timeout", format_duration(l.idle_timeout)},
                         {"sniff_timeout", format_duration(l.sniff_timeout)},
                         {"handshake_timeout", format_duration(l.handshake_timeout)},
                         {"splice", l.splice},
                         {"max_streams", l.max_streams},
                         {"tproxy", l.tproxy}});
    if (!l.via.empty()) listeners.back()["via"] = l.via;
    if (l.proxy_protocol) listeners.back()["proxy_protocol"] = "v2";
    if (is_proxy_protocol(l.protocol)) {
      json users = json::array(), allow = json::array();
      for (const auto& u : l.users) users.push_back(u.name);  // never the passwords
      for (const auto& a : l.allow.routes()) {
        json ja = json::object();
        if (!a.match.host.empty()) ja["host"] = a.match.host;
        if (a.match.port) ja["port"] = a.match.port;
        allow.push_back(ja);
      }
      listeners.back()["users"] = users;
      listeners.back()["allow"] = allow;
      if (l.protocol != "http-proxy") listeners.back()["udp_idle_timeout"] = format_duration(l.udp_idle_timeout);
    }
    if (l.webpush) {
      const auto& w = *l.webpush;
      listeners.back()["tls"] = {{"cert", w.tls_cert}, {"key", w.tls_key}};
      listeners.back()["webpush"] = {{"store", w.store},
                                     {"public_url", w.public_url},
                                     {"max_message_size", w.max_message_size},
                                     {"max_pending", w.max_pending},
                                     {"max_subscriptions", w.max_subscriptions},
                                     {"default_ttl", format_duration(w.default_ttl)},
                                     {"max_ttl", format_duration(w.max_ttl)},
                                     {"node_mailboxes", w.node_mailboxes}};
    }
  }
  return {{"source", c.source},
          {"base_port", c.base_port},
          {"workers", c.workers},
          {"drain_timeout", format_duration(c.drain_timeout)},
          {"log_level", c.log_level},
          {"state_dir", c.state_dir},
          {"access_log",
           {{"path", c.access_log.path},
            {"format", c.access_log.format == AccessLogConfig::Format::kJson ? "json" : "text"}}},
          {"admin", c.admin ? json(json{{"address", c.admin->str()}}) : json("off")},
          {"mesh",
           {{"stream_window", c.mesh.stream_window},
            {"connection_window", c.mesh.connection_window},
            {"max_frame", c.mesh.max_frame},
            {"max_concurrent_streams", c.mesh.max_concurrent_streams},
            {"streams_per_connection", c.mesh.streams_per_connection},
            {"pool_idle_timeout", format_duration(c.mesh.pool_idle_timeout)},
            {"keepalive_interval", format_duration(c.mesh.keepalive_interval)},
            {"keepalive_timeout", format_duration(c.mesh.keepalive_timeout)},
            {"connect_timeout", format_duration(c.mesh.connect_timeout)}}},
          {"nodes", nodes_json(c.nodes)},
          {"remote_accept",
           c.remote_accept.gateways.empty()
               ? nlohmann::json("off")
               : nlohmann::json{{"gateways", c.remote_accept.gateways},
                                {"backoff_min", format_duration(c.remote_accept.backoff_min)},
                                {"backoff_max", format_duration(c.remote_accept.backoff_max)},
                                {"proxy_protocol", c.remote_accept.listener.proxy_protocol ? "v2" : "off"},
                                {"token_file", c.remote_accept.token_file}}},
          {"registration_tokens",
           c.registration_tokens.issuers.empty()
               ? nlohmann::json("off")
               : nlohmann::json{{"issuers", c.registration_tokens.issuers},
                                {"max_lifetime", format_duration(c.registration_tokens.max_lifetime)}}},
          {"identity", identity_json(c.identity)},
          {"authorization", authorization_json(c.authorization)},
          {"discovery", discovery_json(c.discovery)},
          {"listeners", listeners}};
}

}  // namespace ugate

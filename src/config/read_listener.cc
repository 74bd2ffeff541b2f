#include "config/readers.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <optional>
#include <cctype>

namespace ugate::config_yaml {
namespace {

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
  route.forward = read_address(r, n["forward"], Reader::join(key, "forward"), 0, false);
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

// A stun or dns listener answers itself: nothing of where streams go.
void refuse_forwarding(const Reader& r, const YAML::Node& n, const std::string& key, const ListenerConfig& l) {
  for (const char* k : {"forward", "routes", "via", "proxy_protocol", "tproxy"})
    if (n[k])
      r.fail(n[k], Reader::join(key, k), "a " + std::string(to_string(l.protocol)) + " listener answers itself; remove it");
}

// RFC 5780 needs a second IP address and port, and answers that name the
// first one, which must then be one address.
void read_stun(const Reader& r, const YAML::Node& n, const std::string& key, uint16_t base, ListenerConfig& l) {
  if (const YAML::Node& tls = n["tls"]) {  // TURN over TLS on the TCP port
    const std::string tk = Reader::join(key, "tls");
    r.only_keys(tls, tk, {"cert", "key"});
    if (!tls["cert"] || !tls["key"]) r.fail(tls, tk, "needs both cert and key (PEM files)");
    l.tls_cert = r.scalar(tls["cert"], Reader::join(tk, "cert"));
    l.tls_key = r.scalar(tls["key"], Reader::join(tk, "key"));
  }
  if (!n["other_address"]) return;
  const std::string at = Reader::join(key, "other_address");
  l.other_address = r.address(n["other_address"], at, base, false);
  auto ip = [](const HostPort& hp) {
    boost::system::error_code ec;
    auto a = boost::asio::ip::make_address(hp.host, ec);
    return ec ? std::optional<boost::asio::ip::address>() : std::optional(a);
  };
  auto mine = ip(l.address), other = ip(l.other_address);
  if (!mine || mine->is_unspecified())
    r.fail(n["address"], Reader::join(key, "address"),
           "with other_address the listener needs one IP address (answers name it in OTHER-ADDRESS)");
  if (!other || other->is_unspecified() || other->is_v4() != mine->is_v4() || *other == *mine)
    r.fail(n["other_address"], at, "expected another IP address of the same family as the listener's, with a port");
  if (l.other_address.port == l.address.port)
    r.fail(n["other_address"], at, "expected another port than the listener's (RFC 5780 changes both)");
}

}  // namespace


ListenerConfig read_listener(const Reader& r, const YAML::Node& n, const std::string& key, uint16_t base,
                             const ListenerDefaults& d) {
  r.only_keys(n, key,
              {"name", "address", "protocol", "forward", "routes", "connect_timeout", "idle_timeout", "sniff_timeout",
               "handshake_timeout", "splice", "max_streams", "tproxy", "users", "allow", "udp_idle_timeout", "tls", "webpush",
               "via", "proxy_protocol", "response_timeout", "reach_admin", "egress",
               "accept_proxy_protocol", "mode", "owner", "group", "other_address", "source_rate_limit", "turn"});
  ListenerConfig l;
  l.connect_timeout = d.connect_timeout;
  l.idle_timeout = d.idle_timeout;
  l.sniff_timeout = d.sniff_timeout;
  l.handshake_timeout = d.handshake_timeout;
  l.splice = d.splice;
  l.max_streams = d.max_streams;
  if (!n["address"]) r.fail(n, key, "missing 'address: HOST:PORT' (or unix:/PATH)");
  l.address = read_address(r, n["address"], Reader::join(key, "address"), base, true);
  l.name = n["name"] ? r.scalar(n["name"], Reader::join(key, "name")) : l.address.str();
  if (n["protocol"]) {
    const std::string name = r.scalar(n["protocol"], Reader::join(key, "protocol"));
    auto protocol = protocol_from_name(name);
    if (!protocol)
      r.fail(n["protocol"], Reader::join(key, "protocol"),
             "unknown protocol '" + name + "' (supported: " + protocol_names() + ")");
    l.protocol = *protocol;
  }
  read_unix_listener(r, n, key, l);
  const std::string protocol(to_string(l.protocol));
  if (n["users"] && !l.is(kProxy) && !l.is(kStunServer))
    r.fail(n["users"], Reader::join(key, "users"),
           "only for " + protocols_with(kProxy) + " listeners, and stun (short-term credentials)");
  for (const char* k : {"allow"}) {
    if (n[k] && !l.is(kProxy))
      r.fail(n[k], Reader::join(key, k), "only for " + protocols_with(kProxy) + " listeners");
  }
  if (n["udp_idle_timeout"] && !l.is(kUdpAssociate))
    r.fail(n["udp_idle_timeout"], Reader::join(key, "udp_idle_timeout"),
           "only for " + protocols_with(kUdpAssociate) + " listeners");
  if (n["users"]) l.users = read_users(r, n["users"], Reader::join(key, "users"));
  if (n["allow"]) l.allow = read_allow(r, n["allow"], Reader::join(key, "allow"));
  if (n["udp_idle_timeout"])
    l.udp_idle_timeout = r.duration(n["udp_idle_timeout"], Reader::join(key, "udp_idle_timeout"));
  if (n["reach_admin"]) {
    const std::string at = Reader::join(key, "reach_admin");
    if (!l.is(kClientNamesDestination))
      r.fail(n["reach_admin"], at,
             "only for listeners whose clients name the destination (" + protocols_with(kClientNamesDestination) + ")");
    l.reach_admin = r.boolean(n["reach_admin"], at);
  }
  if (n["egress"]) {
    const std::string at = Reader::join(key, "egress");
    if (!l.is(kMeshIdentity))
      r.fail(n["egress"], at, "only for " + protocols_with(kMeshIdentity) + " listeners (other doors' clients reach any "
                                  "destination unless allow limits them)");
    l.egress = r.boolean(n["egress"], at);
  }
  if (n["response_timeout"]) {
    const std::string at = Reader::join(key, "response_timeout");
    if (!l.is(kHttpRequests)) r.fail(n["response_timeout"], at, "only for " + protocols_with(kHttpRequests) + " listeners");
    l.response_timeout = r.duration(n["response_timeout"], at);
    if (l.response_timeout.count() == 0) r.fail(n["response_timeout"], at, "must be above 0");
  }
  if (n["accept_proxy_protocol"])
    read_accept_proxy_protocol(r, n["accept_proxy_protocol"], Reader::join(key, "accept_proxy_protocol"), l);
  read_listener_source_rate_limit(r, n, key, d, l);
  if (l.is(kControlThread)) {
    for (const char* k : {"forward", "routes"})
      if (n[k]) r.fail(n[k], Reader::join(key, k), "a webpush listener serves the push service itself; remove it");
    return l;  // the caller reads its tls and webpush keys (read_webpush)
  }
  if (n["webpush"]) r.fail(n["webpush"], Reader::join(key, "webpush"), "only for protocol webpush");
  if (n["tls"] && !l.is(kStunServer))
    r.fail(n["tls"], Reader::join(key, "tls"), "only for protocol webpush (and stun: TURN over TLS)");
  if (n["turn"] && !l.is(kStunServer))
    r.fail(n["turn"], Reader::join(key, "turn"), "only for " + protocols_with(kStunServer) + " listeners");
  if (n["other_address"] && !l.is(kStunServer))
    r.fail(n["other_address"], Reader::join(key, "other_address"), "only for " + protocols_with(kStunServer) + " listeners");
  if (l.is(kOwnAnswers)) refuse_forwarding(r, n, key, l);
  if (l.is(kStunServer)) read_stun(r, n, key, base, l);
  const bool udp = l.is(kDatagram);
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
    if (!l.is(kCapture) && !udp)
      r.fail(n["tproxy"], Reader::join(key, "tproxy"),
             "only capture listeners (capture-out, capture-in) and udp take tproxy");
  }
  if (n["via"]) {
    if (udp || l.is(kStreamNamesDestination) || l.is(kMeshIdentity))
      r.fail(n["via"], Reader::join(key, "via"), "only for listeners that dial TCP destinations (not " + protocol + ")");
    l.via = r.scalar(n["via"], Reader::join(key, "via"));  // checked against the nodes once all are read
  }
  if (n["proxy_protocol"]) {
    std::string v = r.scalar(n["proxy_protocol"], Reader::join(key, "proxy_protocol"));
    if (v != "v2" && v != "off") r.fail(n["proxy_protocol"], Reader::join(key, "proxy_protocol"), "expected v2 or off, got '" + v + "'");
    // http-proxy and auto (its HTTP clients) reuse upstream connections across absolute-form requests.
    if ((udp || l.is(kHttpRequests)) && v == "v2")
      r.fail(n["proxy_protocol"], Reader::join(key, "proxy_protocol"),
             "only for listeners that forward whole streams (not " + protocol + ")");
    l.proxy_protocol = v == "v2";
  }
  if (udp && l.idle_timeout.count() == 0) r.fail(n["idle_timeout"], Reader::join(key, "idle_timeout"), "must be above 0");
  if (l.connect_timeout.count() == 0) r.fail(n["connect_timeout"], Reader::join(key, "connect_timeout"), "must be above 0");

  std::vector<Route> routes;
  if (n["forward"] && n["routes"]) r.fail(n, key, "give either 'forward' or 'routes', not both");
  if (l.is(kStreamNamesDestination)) {
    if (n["forward"] || n["routes"])
      r.fail(n["forward"] ? n["forward"] : n["routes"], key,
             "a " + protocol + " listener takes each stream's destination from its request: no forward or routes");
  } else if (n["forward"] && l.is(kRoutesOptional)) {
    r.fail(n["forward"], Reader::join(key, "forward"),
           "an auto listener's proxy clients name their destination; TLS clients are routed by SNI "
           "through 'routes' (a route without sni is the default)");
  } else if (n["forward"]) {
    routes.push_back(Route{{}, read_address(r, n["forward"], Reader::join(key, "forward"), 0, false)});
  } else if (n["routes"]) {
    const YAML::Node& list = n["routes"];
    if (!list.IsSequence()) r.fail(list, Reader::join(key, "routes"), "expected a list of routes");
    for (size_t i = 0; i < list.size(); ++i)
      routes.push_back(read_route(r, list[i], Reader::join(key, "routes") + "[" + std::to_string(i) + "]"));
  } else if (l.is(kNeedsForward) && !(udp && l.tproxy)) {
    r.fail(n, key, "a " + protocol + " listener needs 'forward: HOST:PORT' (or 'routes')" +
                       (udp ? ", or tproxy: true" : ""));
  }
  if (!routes.empty() && l.is(kProxy) && !l.is(kRoutesOptional))
    r.fail(n[n["forward"] ? "forward" : "routes"], Reader::join(key, n["forward"] ? "forward" : "routes"),
           "a " + protocol + " listener's clients name the destination: no forward or routes (limit them with allow)");
  for (size_t i = 0; i < routes.size(); ++i) {
    if (routes[i].terminate && !l.is(kTerminatesPerRoute))
      r.fail(n["routes"][i]["terminate"], Reader::join(key, "routes") + "[" + std::to_string(i) + "].terminate",
             "only " + protocols_with(kTerminatesPerRoute) + " listeners terminate TLS per route");
  }
  for (size_t i = 0; i < routes.size(); ++i) {
    if (!routes[i].forward.unix_socket) continue;
    const YAML::Node at = n["forward"] ? n["forward"] : n["routes"][i]["forward"];
    const std::string at_key = n["forward"] ? Reader::join(key, "forward")
                                            : Reader::join(key, "routes") + "[" + std::to_string(i) + "].forward";
    if (udp) r.fail(at, at_key, "a udp listener forwards datagrams to HOST:PORT, not to a Unix stream socket");
    if (!l.via.empty()) r.fail(at, at_key, "a Unix socket is on this host: not through 'via'");
  }
  l.router = Router(std::move(routes));
  return l;
}

ListenerConfig remote_accept_listener(const ListenerDefaults& d) {
  ListenerConfig l = RemoteAcceptConfig{}.listener;
  l.connect_timeout = d.connect_timeout;
  l.idle_timeout = d.idle_timeout;
  l.handshake_timeout = d.handshake_timeout;
  l.splice = d.splice;
  l.max_streams = d.max_streams;
  return l;
}

}  // namespace ugate::config_yaml

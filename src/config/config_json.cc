#include "config/config.h"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace ugate {
namespace {

Duration seconds(uint32_t s) { return Duration(int64_t{s} * 1000); }

// "0660", as a config writes it.
std::string fmt_mode(uint32_t mode) {
  char out[8];
  std::snprintf(out, sizeof out, "%04o", mode);
  return out;
}

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
    if (!rule.uid.empty()) j["from"]["uid"] = rule.uid;
    if (!rule.gid.empty()) j["from"]["gid"] = rule.gid;
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
    if (n.workload_address != kNodeLoopback) out[n.name]["workload_address"] = n.workload_address;
  }
  return out;
}

nlohmann::json dns_json(const DnsConfig& d) {
  nlohmann::json upstreams = nlohmann::json::array();
  for (const auto& u : d.upstreams) upstreams.push_back(u.str());
  return {{"zone", d.zone.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.zone)},
          {"ipv4_range", d.ipv4_range.str()},
          {"ipv6_range", d.ipv6_range.str()},
          {"ttl", d.ttl},
          {"upstreams", d.upstreams.empty() ? nlohmann::json("/etc/resolv.conf") : upstreams},
          {"timeout", format_duration(d.timeout)},
          {"attempts", d.attempts},
          {"cache_entries", d.cache_entries},
          {"max_cache_ttl", d.max_cache_ttl}};
}

nlohmann::json discovery_json(const DiscoveryConfig& d) {
  if (!d.enabled) return "off";
  return {{"port", d.port},
          {"interval", format_duration(d.interval)},
          {"ttl", format_duration(d.ttl)},
          {"max_clock_skew", format_duration(d.max_clock_skew)},
          {"interfaces", d.interfaces}};
}

nlohmann::json stun_client_json(const StunClientConfig& s) {
  if (s.servers.empty()) return "off";
  nlohmann::json servers = nlohmann::json::array();
  for (const auto& hp : s.servers) servers.push_back(hp.str());
  return {{"servers", servers}, {"interval", format_duration(s.interval)}};
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
                         {"protocol", to_string(l.protocol)},
                         {"routes", routes},
                         {"connect_timeout", format_duration(l.connect_timeout)},
                         {"idle_timeout", format_duration(l.idle_timeout)},
                         {"sniff_timeout", format_duration(l.sniff_timeout)},
                         {"handshake_timeout", format_duration(l.handshake_timeout)},
                         {"splice", l.splice},
                         {"max_streams", l.max_streams},
                         {"tproxy", l.tproxy}});
    if (!l.via.empty()) listeners.back()["via"] = l.via;
    if (l.address.unix_socket && !l.address.host.starts_with('@')) {
      json file = {{"mode", fmt_mode(l.socket_file.mode)}};
      if (l.socket_file.owner) file["owner"] = *l.socket_file.owner;
      if (l.socket_file.group) file["group"] = *l.socket_file.group;
      listeners.back().update(file);
    }
    if (l.proxy_protocol) listeners.back()["proxy_protocol"] = "v2";
    if (const auto& limit = l.source_rate_limit; limit.per_second)
      listeners.back()["source_rate_limit"] = {{"per_second", limit.per_second}, {"burst", limit.burst}};
    if (l.is(kMeshIdentity)) listeners.back()["egress"] = l.egress;
    for (const auto& c : l.accept_proxy_protocol_from) listeners.back()["accept_proxy_protocol"]["from"].push_back(c.str());
    if (l.is(kProxy)) {
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
      if (l.is(kUdpAssociate)) listeners.back()["udp_idle_timeout"] = format_duration(l.udp_idle_timeout);
    }
    if (l.is(kStunServer)) {
      json users = json::array();
      for (const auto& u : l.users) users.push_back(u.name);  // never the passwords
      listeners.back()["users"] = users;
      listeners.back()["other_address"] = l.other_address.host.empty() ? json(nullptr) : json(l.other_address.str());
      if (!l.tls_cert.empty()) listeners.back()["tls"] = {{"cert", l.tls_cert}, {"key", l.tls_key}};  // paths only
      if (auto it = c.turn.find(l.name); it != c.turn.end()) {
        const TurnConfig& t = it->second;
        json turn_users = json::array(), allow_peers = json::array(), deny_peers = json::array();
        for (const auto& u : t.users) turn_users.push_back(u.name);  // never the passwords
        for (const auto& c : t.allow_peers) allow_peers.push_back(c.str());
        for (const auto& c : t.deny_peers) deny_peers.push_back(c.str());
        listeners.back()["turn"] = {
            {"realm", t.realm},
            {"users", turn_users},
            {"users_file", t.users_file.empty() ? json(nullptr) : json(t.users_file)},
            {"auth_secret", t.auth_secret.empty() ? json(nullptr) : json("(set)")},  // never the secret
            {"relay_address", t.relay_address.empty() ? json(nullptr) : json(t.relay_address)},
            {"relay_ports", std::to_string(t.relay_port_min) + "-" + std::to_string(t.relay_port_max)},
            {"max_allocations", t.max_allocations},
            {"max_allocations_per_user", t.max_allocations_per_user},
            {"default_lifetime", format_duration(t.default_lifetime)},
            {"max_lifetime", format_duration(t.max_lifetime)},
            {"nonce_lifetime", format_duration(t.nonce_lifetime)},
            {"bandwidth", t.bandwidth},
            {"allow_peers", allow_peers},
            {"deny_peers", deny_peers}};
      }
    }
    if (auto it = c.webpush.find(l.name); it != c.webpush.end()) {
      const WebPushConfig& w = it->second;
      const auto& s = w.service;
      listeners.back()["tls"] = {{"cert", w.tls_cert}, {"key", w.tls_key}};
      listeners.back()["webpush"] = {{"store", w.store},
                                     {"public_url", s.public_url},
                                     {"max_message_size", s.max_message_size},
                                     {"max_pending", s.max_pending},
                                     {"max_subscriptions", s.max_subscriptions},
                                     {"default_ttl", format_duration(s.default_ttl)},
                                     {"max_ttl", format_duration(s.max_ttl)},
                                     {"node_mailboxes", w.node_mailboxes}};
    }
  }
  return {{"source", c.source},
          {"base_port", c.base_port},
          {"workers", c.workers},
          {"drain_timeout", format_duration(c.drain_timeout)},
          {"overload", {{"memory_watermark", c.memory_watermark}}},
          {"log_level", c.log_level},
          {"state_dir", c.state_dir},
          {"access_log",
           {{"path", c.access_log.path},
            {"format", c.access_log.format == AccessLogConfig::Format::kJson ? "json" : "text"}}},
          {"admin", c.admin ? json(json{{"address", c.admin->str()}}) : json("off")},
          {"mesh",
           {{"stream_window", c.mesh.h2.stream_window},
            {"connection_window", c.mesh.h2.connection_window},
            {"max_frame", c.mesh.h2.max_frame},
            {"max_concurrent_streams", c.mesh.h2.max_concurrent_streams},
            {"streams_per_connection", c.mesh.streams_per_connection},
            {"pool_idle_timeout", format_duration(seconds(c.mesh.timing.idle_timeout))},
            {"keepalive_interval", format_duration(seconds(c.mesh.timing.keepalive_interval))},
            {"keepalive_timeout", format_duration(seconds(c.mesh.timing.keepalive_timeout))},
            {"connect_timeout", format_duration(c.mesh.connect_timeout)}}},
          {"nodes", nodes_json(c.nodes)},
          {"remote_accept",
           c.remote_accept.gateways.empty()
               ? nlohmann::json("off")
               : nlohmann::json{{"gateways", c.remote_accept.gateways},
                                {"backoff_min", format_duration(c.remote_accept.backoff_min)},
                                {"backoff_max", format_duration(c.remote_accept.backoff_max)},
                                {"proxy_protocol", c.remote_accept.listener.proxy_protocol ? "v2" : "off"},
                                {"egress", c.remote_accept.listener.egress},
                                {"token_file", c.remote_accept.token_file}}},
          {"registration_tokens",
           c.registration_tokens.issuers.empty()
               ? nlohmann::json("off")
               : nlohmann::json{{"issuers", c.registration_tokens.issuers},
                                {"max_lifetime", format_duration(c.registration_tokens.max_lifetime)}}},
          {"identity", identity_json(c.identity)},
          {"authorization", authorization_json(c.authorization)},
          {"discovery", discovery_json(c.discovery)},
          {"dns", dns_json(c.dns)},
          {"stun_client", stun_client_json(c.stun_client)},
          {"listeners", listeners}};
}

}  // namespace ugate

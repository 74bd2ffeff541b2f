#include "config/readers.h"

#include <boost/asio/ip/address.hpp>

#include "base/base64.h"
#include "crypto/p256.h"
#include "identity/node_id.h"
#include "identity/spiffe.h"

namespace ugate::config_yaml {

void read_mesh(const Reader& r, const YAML::Node& n, MeshConfig& m) {
  r.only_keys(n, "mesh",
              {"stream_window", "connection_window", "max_frame", "max_concurrent_streams", "streams_per_connection",
               "pool_idle_timeout", "keepalive_interval", "keepalive_timeout", "connect_timeout"});
  constexpr uint64_t kMaxWindow = (1u << 31) - 1;  // RFC 9113 6.9.1
  h2::Settings& h2 = m.h2;
  if (n["stream_window"]) h2.stream_window = static_cast<uint32_t>(r.size(n["stream_window"], "mesh.stream_window", 65535, kMaxWindow));
  if (n["connection_window"])
    h2.connection_window = static_cast<uint32_t>(r.size(n["connection_window"], "mesh.connection_window", 65535, kMaxWindow));
  if (n["max_frame"]) h2.max_frame = static_cast<uint32_t>(r.size(n["max_frame"], "mesh.max_frame", 16384, (1u << 24) - 1));
  if (n["max_concurrent_streams"])
    h2.max_concurrent_streams = static_cast<uint32_t>(r.number(n["max_concurrent_streams"], "mesh.max_concurrent_streams", 1'000'000));
  if (n["streams_per_connection"])
    m.streams_per_connection = static_cast<uint32_t>(r.number(n["streams_per_connection"], "mesh.streams_per_connection", 1'000'000));
  if (m.streams_per_connection == 0) r.fail(n["streams_per_connection"], "mesh.streams_per_connection", "must be above 0");
  // Connections tick once a second: times are whole seconds (rounded up),
  // and shorter keepalive times cannot be kept.
  if (n["pool_idle_timeout"]) m.timing.idle_timeout = whole_seconds(r.duration(n["pool_idle_timeout"], "mesh.pool_idle_timeout"));
  auto seconds = [&](const char* k, uint32_t& out) {
    if (!n[k]) return;
    Duration d = r.duration(n[k], std::string("mesh.") + k);
    if (d < Duration(1000)) r.fail(n[k], std::string("mesh.") + k, "must be at least 1s");
    out = whole_seconds(d);
  };
  seconds("keepalive_interval", m.timing.keepalive_interval);
  seconds("keepalive_timeout", m.timing.keepalive_timeout);
  if (n["connect_timeout"]) {
    m.connect_timeout = r.duration(n["connect_timeout"], "mesh.connect_timeout");
    if (m.connect_timeout.count() == 0) r.fail(n["connect_timeout"], "mesh.connect_timeout", "must be above 0");
  }
}


namespace {

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

// The host of the CONNECTs to a node by name: an IP literal, as a ztunnel
// knows its workloads (a name would be looked up on the far side, if at all).
std::string read_workload_address(const Reader& r, const YAML::Node& n, const std::string& node_key) {
  const std::string key = Reader::join(node_key, "workload_address");
  std::string v = r.scalar(n, key);
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(v, ec);
  if (ec) r.fail(n, key, "expected the IP address of the node's workload (IPv6 without brackets), got '" + v + "'");
  return v;
}

}  // namespace

std::vector<NodeConfig> read_nodes(const Reader& r, const YAML::Node& n, uint16_t base) {
  if (!n.IsMap()) r.fail(n, "nodes", "expected a mapping of NAME: { address, id, via, workload_address }");
  std::vector<NodeConfig> nodes;
  for (const auto& kv : n) {
    NodeConfig node;
    node.name = kv.first.as<std::string>();
    std::string key = "nodes." + node.name;
    if (auto err = check_node_name(node.name); !err.empty()) r.fail(kv.first, key, err);
    const YAML::Node& v = kv.second;
    r.only_keys(v, key, {"address", "id", "via", "workload_address"});
    if (v["address"]) node.address = r.address(v["address"], Reader::join(key, "address"), base, false);
    if (!v["id"]) r.fail(v, key, "missing 'id': the node's SPIFFE ID or node ID (`ugate id` on it prints both)");
    node.id = r.scalar(v["id"], Reader::join(key, "id"));
    if (auto err = check_node_ref(node.id); !err.empty()) r.fail(v["id"], Reader::join(key, "id"), err);
    if (v["via"]) node.via = r.scalar(v["via"], Reader::join(key, "via"));
    if (v["workload_address"]) node.workload_address = read_workload_address(r, v["workload_address"], key);
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


// remote_accept: [gw, ...] or { gateways: [...], backoff_min, backoff_max, proxy_protocol }
void read_remote_accept(const Reader& r, const YAML::Node& n, Config& c) {
  const std::string key = "remote_accept";
  RemoteAcceptConfig& ra = c.remote_accept;
  if (n.IsMap()) {
    r.only_keys(n, key, {"gateways", "backoff_min", "backoff_max", "proxy_protocol", "token_file", "egress"});
    if (n["egress"]) ra.listener.egress = r.boolean(n["egress"], key + ".egress");
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

}  // namespace ugate::config_yaml

#include "mesh/mesh_path.h"

#include <algorithm>

namespace ugate {
namespace {

// Host names compare without case; config names are lower case already.
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

// The node a host names: "b" for b and b.<trust-domain> (the domain in any
// case); `in_domain` says the second form (a mesh name even when no node of
// that name is known).
std::string_view node_label(std::string_view host, std::string_view td, bool& in_domain) {
  in_domain = false;
  if (td.empty() || host.size() <= td.size() + 1 || host[host.size() - td.size() - 1] != '.') return host;
  std::string_view label = host.substr(0, host.size() - td.size() - 1);
  if (!iequals(host.substr(host.size() - td.size()), td) || label.find('.') != std::string_view::npos) return host;
  in_domain = true;
  return label;
}

}  // namespace

MeshPath MeshPath::prefix() const {
  MeshPath p;
  p.hops.assign(hops.begin(), hops.end() - 1);
  p.authority = hops.back().address;
  return p;
}

std::string MeshPath::connection_key() const {
  std::string key;
  for (const NodeConfig& n : hops) key += n.id + "@" + n.address.str() + "/";
  return key;
}

const NodeConfig* NodeDirectory::find(std::string_view name) const {
  for (const auto& n : nodes_)
    if (iequals(n.name, name)) return &n;
  return nullptr;
}

std::vector<NodeConfig> NodeDirectory::chain(const NodeConfig& last) const {
  std::vector<NodeConfig> hops{last};
  while (!hops.front().via.empty() && hops.size() < kMaxMeshHops) {
    const NodeConfig* via = find(hops.front().via);
    if (!via) break;  // the config checked every via
    hops.insert(hops.begin(), *via);
  }
  return hops;
}

MeshTarget resolve_target(const HostPort& destination, std::string_view via, std::string_view trust_domain,
                          const NodeDirectory& nodes, const MeshSurroundings& around) {
  MeshTarget t;
  bool in_domain = false;
  std::string_view name = node_label(destination.host, trust_domain, in_domain);
  const NodeConfig* node = nodes.find(name);
  if (node || in_domain) {
    // Whichever way the node is reached, it is asked for the same host.
    HostPort on_node{node ? node->workload_address : std::string(kNodeLoopback), destination.port};
    if (auto n = around.neighbour(name, node)) {  // on this link: straight there, not through a gateway
      t.kind = MeshTarget::Kind::kPath;
      t.path = MeshPath{{std::move(*n)}, std::move(on_node)};
      return t;
    }
    if (auto e = around.registered(node ? std::string_view(node->id) : name)) {
      t.kind = MeshTarget::Kind::kReverse;
      t.reverse = std::move(*e);
      t.authority = std::move(on_node);
      return t;
    }
    if (node && node->address.port) {
      t.kind = MeshTarget::Kind::kPath;
      t.path = nodes.path_to(*node, std::move(on_node));
      return t;
    }
    if (node && !node->via.empty() && nodes.find(node->via)) {
      // Registered with its gateway, presumably: the gateway is asked for the
      // node's mesh port by name, and inside that tunnel TLS goes from here to
      // the node, which so sees who called (not the gateway).
      NodeConfig behind = *node;
      behind.address = HostPort{node->name + "." + std::string(trust_domain), kHbonePort};
      t.kind = MeshTarget::Kind::kPath;
      t.path = nodes.path_to(behind, std::move(on_node));
      return t;
    }
    t.kind = MeshTarget::Kind::kUnavailable;
    return t;
  }
  if (const NodeConfig* gateway = via.empty() ? nullptr : nodes.find(via)) {
    t.kind = MeshTarget::Kind::kPath;
    t.path = nodes.path_to(*gateway, destination);
  }
  return t;
}

}  // namespace ugate

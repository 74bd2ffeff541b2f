#include "mesh/mesh_path.h"

#include <algorithm>

namespace ugate {
namespace {

// Host names compare without case; config names are lower case already.
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
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

std::optional<MeshPath> NodeDirectory::route(const HostPort& destination, std::string_view via,
                                             std::string_view trust_domain) const {
  std::string_view host = destination.host;
  if (!trust_domain.empty() && host.size() > trust_domain.size() + 1 && host.ends_with(trust_domain) &&
      host[host.size() - trust_domain.size() - 1] == '.') {
    std::string_view name = host.substr(0, host.size() - trust_domain.size() - 1);
    if (name.find('.') == std::string_view::npos) host = name;
  }
  if (const NodeConfig* node = find(host)) return MeshPath{chain(*node), HostPort{"127.0.0.1", destination.port}};
  if (via.empty()) return std::nullopt;
  const NodeConfig* gateway = find(via);
  if (!gateway) return std::nullopt;
  return MeshPath{chain(*gateway), destination};
}

}  // namespace ugate

#pragma once
// Which destinations go through the mesh, and by which nodes: worked out from
// the configured nodes, pure data (no sockets), for the dial of every stream.
//
// A destination names a node as NAME:PORT, or NAME.<trust-domain>:PORT (what
// a SOCKS5 or HTTP-proxy client can ask for), and means PORT on that node's
// loopback. A listener with `via: NODE` sends every other destination to
// that node, which dials it (an egress gateway). A node with `via` is reached
// through the via node: CONNECT to its mesh port inside a CONNECT to the
// via node's (double HBONE), with TLS end to end.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/mesh_config.h"
#include "base/endpoint.h"

namespace ugate {

struct MeshPath {
  // The first is dialled directly; each later one through a CONNECT on the
  // connection to the one before it. Never empty, at most kMaxMeshHops.
  // Copies: a node may come from discovery, whose table changes.
  std::vector<NodeConfig> hops;
  HostPort authority;  // what the last node's CONNECT asks for

  // The path without its last node, asking that node's mesh port: how the
  // connection to the last node is made when there is more than one.
  MeshPath prefix() const;
  // Names the chain of connections (each node's identity and address): the
  // pool's key, so that streams on the same path share connections.
  std::string connection_key() const;
};

class NodeDirectory {
 public:
  explicit NodeDirectory(const std::vector<NodeConfig>& nodes) : nodes_(nodes) {}

  bool empty() const { return nodes_.empty(); }
  // The path to a configured node (through its via nodes), asking it for `authority`.
  MeshPath path_to(const NodeConfig& node, HostPort authority) const { return MeshPath{chain(node), std::move(authority)}; }
  const NodeConfig* find(std::string_view name) const;
  // The mesh path to `destination` (with the listener's `via`, "" for none),
  // or nullopt when it is dialled directly.
  std::optional<MeshPath> route(const HostPort& destination, std::string_view via, std::string_view trust_domain) const;

 private:
  std::vector<NodeConfig> chain(const NodeConfig& last) const;
  const std::vector<NodeConfig>& nodes_;
};

}  // namespace ugate

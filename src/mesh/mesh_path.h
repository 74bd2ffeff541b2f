#pragma once
// Which destinations go through the mesh, and by which nodes: worked out from
// the configured nodes, pure data (no sockets), for the dial of every stream.
//
// A destination names a node as NAME:PORT, or NAME.<trust-domain>:PORT (what
// a SOCKS5 or HTTP-proxy client can ask for), and means PORT on that node's
// loopback (or on its configured workload_address). A listener with
// `via: NODE` sends every other destination to that node, which dials it (an
// egress gateway). A node with `via` is reached through the via node: CONNECT
// to its mesh port inside a CONNECT to the via node's (double HBONE), with
// TLS end to end.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/endpoint.h"
#include "mesh/mesh_config.h"
#include "mesh/reverse_registry.h"

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

 private:
  std::vector<NodeConfig> chain(const NodeConfig& last) const;
  const std::vector<NodeConfig>& nodes_;
};

// Where a stream to a destination goes.
struct MeshTarget {
  enum class Kind : uint8_t {
    kDirect,       // not a mesh destination: TCP
    kPath,         // through `path` (the pool)
    kReverse,      // down the reverse connection of `reverse` (registered with this gateway)
    kUnavailable,  // a mesh node that cannot be reached now
  };
  Kind kind = Kind::kDirect;
  MeshPath path;
  ReverseRegistry::Entry reverse;
  HostPort authority;  // kReverse: what to ask the node for
};

// What the resolver asks of the node's surroundings, which change at run time.
class MeshSurroundings {
 public:
  // A node on this node's links (discovery) that is `configured`, or named
  // `name` (node ID or SPIFFE name) when no node of that name is configured.
  virtual std::optional<NodeConfig> neighbour(std::string_view name, const NodeConfig* configured) const = 0;
  // A node registered here over a reverse connection, by node ID or SPIFFE ID
  // (a configured node's `id`) or by name (an unconfigured one).
  virtual std::optional<ReverseRegistry::Entry> registered(std::string_view key) const = 0;

 protected:
  ~MeshSurroundings() = default;
};

// The one decision of where `destination` goes (with the listener's `via`, ""
// for none): pure, given the configured nodes and the surroundings. A name in
// the trust domain (any case) or of a configured node means a port on that
// node's loopback (or workload_address): a neighbour on the link first, then
// its reverse connection, then its configured address (through its via
// nodes), then the gateway it names as via (for the node's mesh port, with
// TLS inside to the node); unavailable otherwise. Any other destination goes
// to the listener's via node when there is one, else directly.
MeshTarget resolve_target(const HostPort& destination, std::string_view via, std::string_view trust_domain,
                          const NodeDirectory& nodes, const MeshSurroundings& around);

}  // namespace ugate

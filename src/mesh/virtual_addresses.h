#pragma once
// The virtual addresses of the configured nodes: what the DNS listener
// answers for a mesh name, and what the outbound capture maps back to the
// node when an app connects to one. Pure data, made once from the config;
// the workers share it read-only.
//
// Each node gets one IPv4 address from `ipv4_range` and one IPv6 address
// from `ipv6_range`, derived from a hash of its identity (its `id`, else its
// name) so that it stays the same across restarts and on every node of the
// mesh that configures it alike; a collision moves the later node (in the
// order of their identities) to the next free address.
#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/cidr.h"
#include "mesh/mesh_config.h"

namespace ugate {

struct VirtualNode {
  std::string name;  // the configured node's name: what a stream to it asks the mesh for
  std::string id;    // its `id` (node ID or SPIFFE ID), "" when none
  std::optional<boost::asio::ip::address_v4> v4;  // none when the range is full
  std::optional<boost::asio::ip::address_v6> v6;
};

class VirtualAddresses {
 public:
  VirtualAddresses(const std::vector<NodeConfig>& nodes, const Cidr& ipv4_range, const Cidr& ipv6_range);

  // The node a DNS label names: its name, or its node ID (any case).
  const VirtualNode* find(std::string_view label) const;
  // The node whose virtual address `a` is (IPv4-mapped IPv6 as IPv4).
  const VirtualNode* by_address(const boost::asio::ip::address& a) const;
  const std::vector<VirtualNode>& nodes() const { return nodes_; }
  const Cidr& ipv4_range() const { return v4_range_; }
  const Cidr& ipv6_range() const { return v6_range_; }

 private:
  std::vector<VirtualNode> nodes_;
  Cidr v4_range_, v6_range_;
};

}  // namespace ugate

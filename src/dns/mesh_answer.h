#pragma once
// The names the DNS listener answers itself: NAME.<trust-domain> and
// NAME.<zone> for each configured node, by its name or its node ID, with its
// virtual addresses (mesh/virtual_addresses.h). Pure: a query in, an answer out.
#include <span>
#include <string_view>
#include <vector>

#include "dns/message.h"
#include "mesh/virtual_addresses.h"

namespace ugate::dns {

class MeshZone {
 public:
  // `trust_domain` or `zone` may be "" (none).
  MeshZone(const VirtualAddresses& addresses, std::string_view trust_domain, std::string_view zone, uint32_t ttl);

  // When `q` names something in one of the domains, its answer into `out`
  // and true: the node's A or AAAA (NOERROR without records when it has no
  // address of that family, or for other types), NXDOMAIN for a name that is
  // not a node. False for every other name (forwarded).
  bool answer(std::span<const uint8_t> query_msg, const Query& q, std::vector<uint8_t>& out) const;

 private:
  struct Domain {
    Name name;
    std::string text;
  };
  const VirtualAddresses& addresses_;
  std::vector<Domain> domains_;
  uint32_t ttl_;
};

}  // namespace ugate::dns

#pragma once
// Which peers a TURN allocation may reach (coturn's denied-peer-ip): by
// default none on loopback, private (RFC 1918, RFC 4193), link-local,
// unspecified, multicast or broadcast addresses, nor this server's own, so
// that a user with credentials cannot reach what sits behind the server.
// `allow_peers` lifts that for chosen ranges; `deny_peers` adds ranges.
#include <boost/asio/ip/address.hpp>
#include <vector>

#include "base/cidr.h"

namespace ugate::stun {

class PeerPolicy {
 public:
  PeerPolicy(std::vector<Cidr> allow, std::vector<Cidr> deny, std::vector<boost::asio::ip::address> own);
  bool allowed(const boost::asio::ip::address& peer) const;

 private:
  std::vector<Cidr> allow_, deny_;
  std::vector<boost::asio::ip::address> own_;
};

// The ranges denied unless allowed.
const std::vector<Cidr>& default_denied_peers();

}  // namespace ugate::stun

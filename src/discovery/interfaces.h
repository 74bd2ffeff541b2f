#pragma once
// The network interfaces discovery announces on: up, multicast-capable, not
// loopback (or the ones the config names), with their addresses.
#include <boost/asio/ip/address.hpp>
#include <string>
#include <vector>

namespace ugate::discovery {

struct Interface {
  std::string name;
  unsigned index = 0;
  std::vector<boost::asio::ip::address> addresses;  // IPv4 and IPv6 (link-local ones with their scope)
  bool has_v4() const;
  bool has_v6() const;
};

// `only`: the names to keep (empty: every suitable interface).
std::vector<Interface> list_interfaces(const std::vector<std::string>& only);

}  // namespace ugate::discovery

#pragma once
// Address ranges in CIDR notation ("10.0.0.0/8", "2001:db8::/32"; a bare
// address is a range of one), for lists of sources a listener trusts.
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ugate {

struct Cidr {
  boost::asio::ip::address network;
  uint8_t prefix = 0;  // leading bits that must match: up to 32 (IPv4) or 128 (IPv6)

  // An IPv4-mapped IPv6 address (how a listener on [::] sees IPv4 clients)
  // is matched as the IPv4 address it holds.
  bool contains(const boost::asio::ip::address& a) const;
  std::string str() const;  // "10.0.0.0/8"
  bool operator==(const Cidr&) const = default;
};

// "ADDR/LEN" or "ADDR"; an IPv4-mapped IPv6 range is the IPv4 one it holds
// ("::ffff:10.0.0.0/104" is 10.0.0.0/8). nullopt, with the reason in `why`
// when given, for anything else, including bits set beyond the prefix
// ("10.0.0.1/8" is probably a mistake for 10.0.0.0/8 or 10.0.0.1).
std::optional<Cidr> parse_cidr(std::string_view text, std::string* why = nullptr);

bool in_any(const std::vector<Cidr>& ranges, const boost::asio::ip::address& a);

}  // namespace ugate

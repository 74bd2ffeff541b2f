#pragma once
// The `dns:` section: what the `protocol: dns` listeners answer themselves
// (mesh names) and where they send the rest.
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "base/cidr.h"
#include "base/duration.h"
#include "base/endpoint.h"

namespace ugate {

struct DnsConfig {
  // A local zone whose names are the configured nodes (`bob.mesh.internal`),
  // beside NAME.<trust-domain>; "" for none.
  std::string zone;
  // Where the nodes' virtual addresses come from (mesh/virtual_addresses.h).
  // 240/4 is reserved (never on the Internet); the IPv6 one is a /64 of
  // fd00::/8 apart from the VIP6s (fd00::/64).
  Cidr ipv4_range{boost::asio::ip::make_address("240.240.0.0"), 16};
  Cidr ipv6_range{boost::asio::ip::make_address("fd00:0:0:53::"), 64};
  uint32_t ttl = 30;  // seconds, of our own answers (and of their negative answers' SOA)
  // Everything else goes to these, in turn; empty: the `nameserver` lines of
  // /etc/resolv.conf, read at start.
  std::vector<HostPort> upstreams;
  Duration timeout{2'000};         // one attempt at one upstream
  uint32_t attempts = 2;           // rounds over the upstreams before SERVFAIL
  uint32_t cache_entries = 4096;   // forwarded answers kept, all workers together
  uint32_t max_cache_ttl = 86'400;  // seconds; also the cap of negative caching
};

}  // namespace ugate

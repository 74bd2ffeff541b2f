// Which peers TURN relays to: loopback, private, link-local and our own are refused by default.
#include "stun/turn_peers.h"

#include <gtest/gtest.h>

namespace ugate::stun {
namespace {

using boost::asio::ip::make_address;

TEST(PeerPolicy, DeniesInternalAddressesByDefault) {
  PeerPolicy p({}, {}, {make_address("198.51.100.7")});
  for (const char* a : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.0.9",
                        "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fd00::1", "fe80::1", "ff02::1",
                        "::ffff:127.0.0.1", "198.51.100.7"})
    EXPECT_FALSE(p.allowed(make_address(a))) << a;
  for (const char* a : {"8.8.8.8", "172.32.0.1", "203.0.113.5", "2001:db8::1"}) EXPECT_TRUE(p.allowed(make_address(a))) << a;
}

TEST(PeerPolicy, AllowListLiftsTheDefaultsAndDenyListAdds) {
  PeerPolicy p({*parse_cidr("127.0.0.1")}, {*parse_cidr("203.0.113.0/24")}, {});
  EXPECT_TRUE(p.allowed(make_address("127.0.0.1")));
  EXPECT_FALSE(p.allowed(make_address("127.0.0.2")));
  EXPECT_FALSE(p.allowed(make_address("203.0.113.5")));
  EXPECT_TRUE(p.allowed(make_address("8.8.8.8")));
}

}  // namespace
}  // namespace ugate::stun

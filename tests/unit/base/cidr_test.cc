#include "base/cidr.h"

#include <gtest/gtest.h>

namespace ugate {
namespace {

boost::asio::ip::address ip(const char* s) { return boost::asio::ip::make_address(s); }

TEST(Cidr, RangesAndSingleAddresses) {
  auto net = parse_cidr("10.0.0.0/8");
  ASSERT_TRUE(net);
  EXPECT_EQ(net->str(), "10.0.0.0/8");
  EXPECT_TRUE(net->contains(ip("10.255.1.2")));
  EXPECT_FALSE(net->contains(ip("11.0.0.1")));
  EXPECT_TRUE(net->contains(ip("::ffff:10.1.2.3"))) << "an IPv4 client of a listener on [::]";
  EXPECT_FALSE(net->contains(ip("::1")));
  auto one = parse_cidr("127.0.0.1");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->str(), "127.0.0.1/32");
  EXPECT_TRUE(one->contains(ip("127.0.0.1")));
  EXPECT_FALSE(one->contains(ip("127.0.0.2")));
  auto v6 = parse_cidr("2001:db8:8000::/33");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(ip("2001:db8:ffff::1")));
  EXPECT_FALSE(v6->contains(ip("2001:db8:7fff::1")));
  EXPECT_FALSE(v6->contains(ip("10.0.0.1")));
  EXPECT_TRUE(parse_cidr("0.0.0.0/0")->contains(ip("192.0.2.1")));
  EXPECT_TRUE(parse_cidr("::/0")->contains(ip("2001:db8::1")));
  EXPECT_TRUE(parse_cidr("192.168.1.0/23") == std::nullopt);
  auto mapped = parse_cidr("::ffff:127.0.0.1");  // how an IPv4 client of a [::] listener looks
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->str(), "127.0.0.1/32");
  EXPECT_TRUE(mapped->contains(ip("127.0.0.1")));
  EXPECT_EQ(parse_cidr("::ffff:10.0.0.0/104")->str(), "10.0.0.0/8");
  EXPECT_TRUE(in_any({*net, *one}, ip("127.0.0.1")));
  EXPECT_FALSE(in_any({*net, *one}, ip("192.0.2.1")));
  EXPECT_FALSE(in_any({}, ip("127.0.0.1")));
}

TEST(Cidr, MistakesAreRefusedWithAReason) {
  std::string why;
  EXPECT_FALSE(parse_cidr("10.0.0.1/8", &why));
  EXPECT_EQ(why, "'10.0.0.1/8' has host bits set: the network is 10.0.0.0/8");
  EXPECT_FALSE(parse_cidr("10.0.0.0/33", &why));
  EXPECT_EQ(why, "the prefix length of '10.0.0.0/33' is not 0 to 32");
  EXPECT_FALSE(parse_cidr("::/129", &why));
  EXPECT_EQ(why, "the prefix length of '::/129' is not 0 to 128");
  for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/8/8", "lb.example", "10.0.0/8", "fe80::1%eth0"}) {
    EXPECT_FALSE(parse_cidr(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

}  // namespace
}  // namespace ugate

// The per-source connection rate: its burst and rate, which addresses count
// as one, and that sharing slots with a flooding address does not refuse others.
#include "listener/source_rate_limiter.h"

#include <gtest/gtest.h>

namespace ugate {
namespace {

using boost::asio::ip::make_address;
constexpr uint64_t kSecond = 1'000'000;
constexpr uint64_t kStart = 1'000 * kSecond;

TEST(SourceRateLimiter, AllowsTheBurstThenTheRate) {
  SourceRateLimiter limiter(10, 3, 1);
  const auto a = make_address("192.0.2.1");
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.take(a, kStart)) << i;
  EXPECT_FALSE(limiter.take(a, kStart)) << "the burst is spent";
  EXPECT_FALSE(limiter.take(a, kStart + kSecond / 10 - 1)) << "the next token comes after 1/10 s";
  EXPECT_TRUE(limiter.take(a, kStart + kSecond / 10));
  EXPECT_FALSE(limiter.take(a, kStart + kSecond / 10));
  EXPECT_TRUE(limiter.take(a, kStart + 10 * kSecond)) << "idle: the burst is back";
  EXPECT_TRUE(limiter.take(a, kStart + 10 * kSecond));
  EXPECT_TRUE(limiter.take(a, kStart + 10 * kSecond));
  EXPECT_FALSE(limiter.take(a, kStart + 10 * kSecond)) << "but never more than the burst";
}

TEST(SourceRateLimiter, HoldsTheRateOverTime) {
  SourceRateLimiter limiter(50, 5, 2);
  const auto a = make_address("2001:db8::1");
  int admitted = 0;
  for (uint64_t t = 0; t < 10 * kSecond; t += 1'000) admitted += limiter.take(a, kStart + t);  // 1,000 tries a second
  EXPECT_EQ(admitted, 5 + 50 * 10 - 1);  // the burst, then one each 20 ms (the last one falls at 10 s)
}

TEST(SourceRateLimiter, CountsIpv6By64AndMappedIpv4AsIpv4) {
  SourceRateLimiter limiter(1, 1, 3);
  EXPECT_TRUE(limiter.take(make_address("2001:db8:1:2::1"), kStart));
  EXPECT_FALSE(limiter.take(make_address("2001:db8:1:2:ffff::9"), kStart)) << "the same /64";
  EXPECT_TRUE(limiter.take(make_address("2001:db8:1:3::1"), kStart)) << "another /64";
  EXPECT_TRUE(limiter.take(make_address("198.51.100.7"), kStart));
  EXPECT_FALSE(limiter.take(make_address("::ffff:198.51.100.7"), kStart)) << "the same IPv4 address";
  EXPECT_TRUE(limiter.take(make_address("198.51.100.8"), kStart));
}

TEST(SourceRateLimiter, AFloodingAddressDoesNotRefuseOthers) {
  SourceRateLimiter limiter(5, 5, 4);
  const auto flood = make_address("203.0.113.66");
  int flood_admitted = 0;
  for (int i = 0; i < 100'000; ++i) flood_admitted += limiter.take(flood, kStart);
  EXPECT_EQ(flood_admitted, 5);
  // 4,000 other addresses in the same instant, one connection each: many
  // share a slot with another, some with the flood's, but an address is
  // refused only when both of its slots are spent (5 connections in each).
  int refused = 0;
  for (uint32_t i = 0; i < 4'000; ++i) refused += !limiter.take(boost::asio::ip::address_v4(0x0a000000u + i), kStart);
  EXPECT_EQ(refused, 0);
}

}  // namespace
}  // namespace ugate

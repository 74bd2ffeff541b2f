// An allocation's permissions, channels (RFC 8656 section 11's rules) and bandwidth.
#include "stun/allocation.h"

#include <gtest/gtest.h>

namespace ugate::stun {
namespace {

Address peer(uint8_t d, uint16_t port) {
  Address a;
  a.ip = {203, 0, 113, d};
  a.port = port;
  return a;
}

TEST(Allocation, PermissionIsForTheIpAndLastsFiveMinutes) {
  Allocation a;
  EXPECT_TRUE(a.permit(peer(1, 1000), 0));
  EXPECT_FALSE(a.permit(peer(1, 2000), 0));  // the same IP: refreshed, not new
  EXPECT_TRUE(a.permitted(peer(1, 3000), 299'999));
  EXPECT_FALSE(a.permitted(peer(2, 1000), 0));
  EXPECT_FALSE(a.permitted(peer(1, 1000), 300'000));
  EXPECT_EQ(a.expire(300'000), std::make_pair(size_t{1}, size_t{0}));
  EXPECT_TRUE(a.permissions.empty());
}

TEST(Allocation, ChannelRules) {
  Allocation a;
  EXPECT_EQ(a.can_bind(0x3FFF, peer(1, 1000), 0), BindCheck::kBadNumber);
  EXPECT_EQ(a.can_bind(0x8000, peer(1, 1000), 0), BindCheck::kBadNumber);
  EXPECT_EQ(a.can_bind(0x7FFF, peer(3, 1000), 0), BindCheck::kOk);  // RFC 5766 clients (coturn takes them too)
  ASSERT_EQ(a.can_bind(0x4000, peer(1, 1000), 0), BindCheck::kOk);
  EXPECT_TRUE(a.bind(0x4000, peer(1, 1000), 0));
  EXPECT_EQ(a.can_bind(0x4000, peer(1, 1000), 1), BindCheck::kOk);  // a refresh
  EXPECT_FALSE(a.bind(0x4000, peer(1, 1000), 1));
  EXPECT_EQ(a.can_bind(0x4000, peer(1, 1001), 1), BindCheck::kNumberTaken);  // another port is another peer
  EXPECT_EQ(a.can_bind(0x4001, peer(1, 1000), 1), BindCheck::kPeerTaken);
  EXPECT_EQ(a.can_bind(0x4001, peer(2, 1000), 1), BindCheck::kOk);
  ASSERT_NE(a.channel(0x4000, 599'999), nullptr);
  EXPECT_EQ(a.channel_to(peer(1, 1000), 599'999)->number, 0x4000);
  EXPECT_EQ(a.channel(0x4000, 600'001), nullptr);  // ten minutes from the refresh at 1
  EXPECT_EQ(a.expire(600'001).second, 1u);
}

TEST(TokenBucket, BurstOfOneSecondThenTheRate) {
  TokenBucket b(1000);
  EXPECT_TRUE(b.take(600, 0));
  EXPECT_TRUE(b.take(400, 0));
  EXPECT_FALSE(b.take(1, 0));
  EXPECT_TRUE(b.take(100, 100));  // 100 ms: 100 bytes
  EXPECT_FALSE(b.take(1, 100));
  EXPECT_TRUE(TokenBucket(0).take(1 << 30, 0));  // 0: unlimited
}

TEST(TokenBucket, AFirstTakeAfterMonthsOfUptimeDoesNotOverflow) {
  TokenBucket b(uint64_t{1} << 40);  // a high rate, times a steady clock of ~200 days in ms, would wrap
  EXPECT_TRUE(b.take(uint64_t{1} << 39, uint64_t{17'280'000'000}));
}

TEST(Allocation, NewPermissionSaysWhetherPermitWouldAddOne) {
  Allocation a;
  EXPECT_TRUE(a.new_permission(peer(1, 1000)));
  a.permit(peer(1, 1000), 0);
  EXPECT_FALSE(a.new_permission(peer(1, 2000))) << "the same IP: a renewal";
  EXPECT_TRUE(a.new_permission(peer(2, 1000)));
}

}  // namespace
}  // namespace ugate::stun

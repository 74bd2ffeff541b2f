#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "listener/listener_slot.h"

namespace ugate {
namespace {

TEST(Admission, PlacesAreTakenAndGivenBack) {
  ListenerConfig config;
  config.max_streams = 2;
  ListenerGroup group(config);
  ListenerSlot slot(group);
  std::optional<Admission> a, b;
  if (auto x = slot.admit()) a = std::move(*x);
  if (auto x = slot.admit()) b = std::move(*x);
  ASSERT_TRUE(a && b);
  Result<Admission, CloseReason> third = slot.admit();
  ASSERT_FALSE(third) << "the third is over max_streams";
  EXPECT_EQ(third.error(), CloseReason::kOverload);
  EXPECT_EQ(group.active.load(), 2u) << "a refusal leaves the count as it was";
  Admission moved = std::move(*a);  // a place moves with its stream
  a.reset();
  EXPECT_EQ(group.active.load(), 2u);
  moved = Admission();  // given back
  EXPECT_EQ(group.active.load(), 1u);
  EXPECT_TRUE(slot.admit().ok());  // taken and given back at once (a temporary)
  EXPECT_EQ(group.active.load(), 1u);
}

TEST(Admission, WithoutALimitNothingIsCounted) {
  ListenerConfig config;  // max_streams 0
  ListenerGroup group(config);
  ListenerSlot slot(group);
  std::vector<Admission> held;
  for (int i = 0; i < 1000; ++i) held.push_back(*slot.admit());
  EXPECT_EQ(group.active.load(), 0u);
}

// Every worker admits at once: exactly max_streams places are handed out, never one more.
TEST(Admission, TheLimitIsExactAcrossThreads) {
  ListenerConfig config;
  config.max_streams = 100;
  ListenerGroup group(config);
  constexpr int kThreads = 4, kTries = 5000;
  std::vector<std::unique_ptr<ListenerSlot>> slots;
  for (int t = 0; t < kThreads; ++t) slots.push_back(std::make_unique<ListenerSlot>(group));
  std::vector<std::vector<Admission>> held(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTries; ++i) {
        if (auto a = slots[t]->admit()) held[t].push_back(std::move(*a));
        if (i % 7 == 0 && !held[t].empty()) held[t].pop_back();  // some streams end meanwhile
        EXPECT_LE(group.active.load(), config.max_streams + kThreads);  // a refused try's moment over
      }
    });
  for (auto& th : threads) th.join();
  size_t total = 0;
  for (auto& h : held) total += h.size();
  EXPECT_LE(total, config.max_streams);
  EXPECT_EQ(group.active.load(), total);
  held.clear();
  EXPECT_EQ(group.active.load(), 0u);
}

// Above the memory watermark nothing is admitted, limit or not, until memory is back below 90% of it.
TEST(Admission, AboveTheMemoryWatermarkNothingIsAdmitted) {
  ListenerConfig config;
  ListenerGroup group(config);
  MemoryWatermark memory(1000);
  group.memory = &memory;
  ListenerSlot slot(group);
  EXPECT_FALSE(memory.update(1000)) << "at the watermark is not above it";
  EXPECT_TRUE(slot.admit().ok());
  EXPECT_TRUE(memory.update(1001));
  Result<Admission, CloseReason> refused = slot.admit();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), CloseReason::kMemoryWatermark);
  EXPECT_FALSE(memory.update(950)) << "still over: not yet below 90%";
  EXPECT_FALSE(slot.admit().ok());
  EXPECT_TRUE(memory.update(899));
  EXPECT_TRUE(slot.admit().ok());
  MemoryWatermark none;  // 0: no watermark
  EXPECT_FALSE(none.update(UINT64_MAX));
  EXPECT_FALSE(none.over());
}

}  // namespace
}  // namespace ugate

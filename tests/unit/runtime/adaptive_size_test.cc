#include "runtime/adaptive_size.h"

#include <gtest/gtest.h>

namespace ugate {
namespace {

TEST(AdaptiveSize, StartsAtTheInitialSize) { EXPECT_EQ(AdaptiveSize().size(), AdaptiveSize::kStartSize); }

TEST(AdaptiveSize, GrowsWhileReadsFillTheBufferUpToTheMaximum) {
  AdaptiveSize s;
  size_t last = s.size();
  for (int i = 0; i < 20; ++i) {
    s.on_read(s.size());
    EXPECT_GE(s.size(), last);
    last = s.size();
  }
  EXPECT_EQ(s.size(), AdaptiveSize::kMaxSize);
}

TEST(AdaptiveSize, ShrinksAfterSeveralSmallReadsDownToTheMinimum) {
  AdaptiveSize s;
  for (unsigned i = 0; i + 1 < AdaptiveSize::kSmallReadsToShrink; ++i) s.on_read(10);
  EXPECT_EQ(s.size(), AdaptiveSize::kStartSize) << "one burst of small reads is not enough";
  s.on_read(10);
  EXPECT_EQ(s.size(), AdaptiveSize::kStartSize / 2);
  for (int i = 0; i < 100; ++i) s.on_read(10);
  EXPECT_EQ(s.size(), AdaptiveSize::kMinSize);
}

TEST(AdaptiveSize, MediumReadsKeepTheSize) {
  AdaptiveSize s;
  for (int i = 0; i < 100; ++i) s.on_read(s.size() / 2);
  EXPECT_EQ(s.size(), AdaptiveSize::kStartSize);
}

TEST(AdaptiveSize, AMediumReadResetsTheSmallReadCount) {
  AdaptiveSize s;
  for (int i = 0; i < 10; ++i) {
    for (unsigned j = 0; j + 1 < AdaptiveSize::kSmallReadsToShrink; ++j) s.on_read(1);
    s.on_read(s.size() / 2);
  }
  EXPECT_EQ(s.size(), AdaptiveSize::kStartSize);
}

TEST(AdaptiveSize, QuietStreamStartsOverFromTheInitialSize) {
  AdaptiveSize s;
  for (int i = 0; i < 10; ++i) s.on_read(s.size());
  ASSERT_EQ(s.size(), AdaptiveSize::kMaxSize);
  s.on_quiet();
  EXPECT_EQ(s.size(), AdaptiveSize::kStartSize);
}

}  // namespace
}  // namespace ugate

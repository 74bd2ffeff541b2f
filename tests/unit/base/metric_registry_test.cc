#include "base/metric_registry.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "base/meta.h"

namespace ugate {
namespace {

TEST(MetricRegistry, RendersFamiliesInOrderWithEscapedLabels) {
  MetricRegistry r;
  uint64_t n = 3;
  r.add_value("a_total", MetricType::kCounter, "As.", [&n] { return n; });
  r.add("b", MetricType::kGauge, "Bs, by name.", [](MetricSamples& s) {
    s.add(label("name", "x\"y\\z\nw"), 1);
    s.add(label("name", "plain") + "," + label("k", "v"), 18446744073709551615u);
  });
  r.add("c", MetricType::kGauge, "Left out when unknown.", [](MetricSamples&) {});
  n = 4;  // read when rendered, not when registered
  EXPECT_EQ(r.render(),
            "# HELP a_total As.\n# TYPE a_total counter\na_total 4\n"
            "# HELP b Bs, by name.\n# TYPE b gauge\nb{name=\"x\\\"y\\\\z\\nw\"} 1\n"
            "b{name=\"plain\",k=\"v\"} 18446744073709551615\n"
            "# HELP c Left out when unknown.\n# TYPE c gauge\n");
  EXPECT_EQ(r.size(), 3u);
}

TEST(MetricRegistry, ReadGivesOneFamilysSamplesAndLabelValueUndoesLabel) {
  MetricRegistry r;
  r.add("a", MetricType::kCounter, "As.", [](MetricSamples& s) { s.add(label("x", "1"), 5); });
  r.add("b", MetricType::kGauge, "Bs.", [](MetricSamples& s) {
    s.add(label("listener", "we\"ird,k=\"v\\\n") + "," + label("reason", "no_route"), 2);
    s.add(label("listener", "plain") + "," + label("reason", ""), 3);
  });
  auto b = r.read("b");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].value, 2u);
  EXPECT_EQ(label_value(b[0].labels, "listener"), "we\"ird,k=\"v\\\n");
  EXPECT_EQ(label_value(b[0].labels, "reason"), "no_route");
  EXPECT_EQ(label_value(b[1].labels, "reason"), "");
  EXPECT_EQ(label_value(b[1].labels, "direction"), std::nullopt);
  EXPECT_EQ(label_value("", "x"), std::nullopt);
  EXPECT_TRUE(r.read("c").empty());
}

TEST(StreamIds, UniqueAcrossThreadsAndIncreasingOnEach) {
  constexpr int kThreads = 4, kEach = 5000;
  std::vector<std::vector<uint64_t>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&ids, t] {
      for (int i = 0; i < kEach; ++i) ids[t].push_back(new_stream_id());
    });
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (const auto& each : ids) {
    for (size_t i = 1; i < each.size(); ++i) ASSERT_LT(each[i - 1], each[i]);
    all.insert(each.begin(), each.end());
  }
  EXPECT_EQ(all.size(), size_t(kThreads * kEach));
  EXPECT_EQ(all.count(0), 0u) << "0 is never an ID";
}

}  // namespace
}  // namespace ugate

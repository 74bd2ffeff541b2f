#include "dns/cache.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "dns_test_util.h"

namespace ugate::dns {
namespace {

struct Stored {
  std::vector<uint8_t> query, answer;
};

Stored store(Cache& cache, std::string_view name, uint32_t ttl, uint64_t now, uint8_t rcode = kNoError, int answers = 1) {
  Stored s{test::query(name, kA, 0x1111), {}};
  s.answer = test::a_answer(s.query, answers, ttl, rcode);
  auto q = parse_query(s.query);
  auto info = parse_response(s.answer);
  EXPECT_TRUE(q && info);
  cache.store(*q, s.answer, *info, now);
  return s;
}

TEST(DnsCache, ServesWithinTheTtlAndAgesIt) {
  Cache cache(16, 86400);
  store(cache, "a.example", 60, 1000);
  auto again = test::query("A.Example", kA, 0x2222);  // another ID, another case
  auto q = parse_query(again);
  std::vector<uint8_t> out;
  ASSERT_TRUE(cache.find(again, *q, 1010, out));
  auto info = parse_response(out);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->header.id, 0x2222);
  EXPECT_EQ(info->min_ttl, 50u);  // aged by 10 s
  EXPECT_EQ(out[13], 'A');        // the client's own case
  EXPECT_FALSE(cache.find(again, *q, 1060, out));  // expired
  auto other_type = test::query("a.example", kAaaa);
  EXPECT_FALSE(cache.find(other_type, *parse_query(other_type), 1010, out));
}

TEST(DnsCache, AnAnswerWithoutOptIsNotGivenToAQueryWithEdns) {
  Cache cache(16, 86400);
  store(cache, "a.example", 60, 1000);  // asked and answered without EDNS0
  std::vector<uint8_t> out;
  auto with_edns = test::query("a.example", kA, 0x3333, 1232);
  EXPECT_FALSE(cache.find(with_edns, *parse_query(with_edns), 1010, out)) << "its answer would lack the OPT record";
  auto without = test::query("a.example", kA, 0x4444);
  EXPECT_TRUE(cache.find(without, *parse_query(without), 1010, out));
}

TEST(DnsCache, NegativeAnswersLastTheSoaMinimum) {
  Cache cache(16, 86400);
  auto q = test::query("gone.example", kA);
  auto a = test::a_answer(q, 0, 0, kNxDomain);
  add_soa(a, "example", 3600, 5);
  cache.store(*parse_query(q), a, *parse_response(a), 100);
  std::vector<uint8_t> out;
  EXPECT_TRUE(cache.find(q, *parse_query(q), 104, out));
  EXPECT_FALSE(cache.find(q, *parse_query(q), 105, out));
  // Without a SOA a negative answer is not kept at all; nor a SERVFAIL.
  store(cache, "nosoa.example", 0, 100, kNxDomain, 0);
  store(cache, "fail.example", 300, 100, kServFail);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(DnsCache, KeepsAtMostItsSizeOldestOut) {
  Cache cache(2, 86400);
  auto first = store(cache, "1.example", 60, 0);
  store(cache, "2.example", 60, 0);
  auto third = store(cache, "3.example", 60, 0);
  EXPECT_EQ(cache.size(), 2u);
  std::vector<uint8_t> out;
  EXPECT_FALSE(cache.find(first.query, *parse_query(first.query), 1, out));
  EXPECT_TRUE(cache.find(third.query, *parse_query(third.query), 1, out));
}

TEST(DnsCache, CapsTheTtlAndIgnoresAnswersToAnotherQuestion) {
  Cache cache(16, 30);
  auto s = store(cache, "long.example", 86400, 0);
  std::vector<uint8_t> out;
  EXPECT_FALSE(cache.find(s.query, *parse_query(s.query), 30, out));
  auto asked = test::query("asked.example", kA);
  auto other = test::query("other.example", kA);
  auto a = test::a_answer(other, 1, 60);
  cache.store(*parse_query(asked), a, *parse_response(a), 0);
  EXPECT_FALSE(cache.find(asked, *parse_query(asked), 1, out));
}

TEST(DnsSharedCache, OneAnswerForEveryWorkerWithinItsBound) {
  SharedCache cache(32, 86400);  // 16 shards of 2
  auto q = test::query("shared.example", kA);
  auto a = test::a_answer(q, 1, 60);
  cache.store(*parse_query(q), a, *parse_response(a), 0);
  std::vector<uint8_t> out;
  std::thread other([&] { EXPECT_TRUE(cache.find(q, *parse_query(q), 1, out)); });  // another worker's thread
  other.join();
  EXPECT_EQ(cache.size(), 1u);
  for (int i = 0; i < 200; ++i) {
    auto qi = test::query("n" + std::to_string(i) + ".example", kA);
    auto ai = test::a_answer(qi, 1, 60);
    cache.store(*parse_query(qi), ai, *parse_response(ai), 0);
  }
  EXPECT_LE(cache.size(), 32u);
  EXPECT_FALSE(SharedCache(0, 60).size());
}

}  // namespace
}  // namespace ugate::dns

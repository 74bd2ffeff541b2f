#include "dns/message.h"

#include <gtest/gtest.h>

#include "dns_test_util.h"

namespace ugate::dns {
namespace {

using test::query;

TEST(DnsMessage, ReadsAQueryAndItsEdns) {
  auto m = query("Bob.Mesh.Internal", kAaaa, 0xbeef, 4096);
  auto q = parse_query(m);
  ASSERT_TRUE(q) << to_string(q.error());
  EXPECT_EQ(q->header.id, 0xbeef);
  EXPECT_TRUE(q->header.rd());
  EXPECT_EQ(q->name.text(), "bob.mesh.internal");  // lower case
  EXPECT_EQ(q->type, kAaaa);
  ASSERT_TRUE(q->edns);
  EXPECT_EQ(q->udp_limit(), 4096);
  auto plain = parse_query(query("x.example", kA));
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->edns);
  EXPECT_EQ(plain->udp_limit(), 512);
}

TEST(DnsMessage, RefusesWhatIsNotOneQuestion) {
  auto m = query("a.example", kA);
  EXPECT_EQ(parse_query(std::span<const uint8_t>(m.data(), 11)).error(), Error::kShort);
  EXPECT_EQ(parse_query(std::span<const uint8_t>(m.data(), m.size() - 1)).error(), Error::kShort);
  auto two = m;
  two[5] = 2;
  EXPECT_EQ(parse_query(two).error(), Error::kQuestionCount);
  auto response = m;
  response[2] |= 0x80;
  EXPECT_EQ(parse_query(response).error(), Error::kNotQuery);
  auto trailing = m;
  trailing.push_back(0);
  EXPECT_EQ(parse_query(trailing).error(), Error::kTrailing);
  auto label = m;
  label[12] = 0x41;  // an extended label type
  EXPECT_EQ(parse_query(label).error(), Error::kBadLabel);
}

TEST(DnsMessage, FollowsCompressionAndRefusesLoops) {
  // A header, then "example" at 12, then a name "www" + pointer to 12 at 21.
  std::vector<uint8_t> m(12, 0);
  test::put_name(m, "example");
  size_t www = m.size();
  m.insert(m.end(), std::initializer_list<uint8_t>{3, 'w', 'w', 'w', 0xc0, 12});
  size_t end = 0;
  auto n = read_name(m, www, end);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->text(), "www.example");
  EXPECT_EQ(end, m.size());
  // A pointer to itself, and one forward: both loops (or could become one).
  std::vector<uint8_t> self(12, 0);
  self.push_back(0xc0);
  self.push_back(12);
  EXPECT_EQ(read_name(self, 12, end).error(), Error::kPointerLoop);
  // Two pointers that point at each other, each backwards from where it sits.
  std::vector<uint8_t> pair(12, 0);
  pair.insert(pair.end(), std::initializer_list<uint8_t>{1, 'a', 0xc0, 16, 1, 'b', 0xc0, 12});
  EXPECT_EQ(read_name(pair, 16, end).error(), Error::kPointerLoop);
  // Into the header: the fuzzer's find (a question whose name was header bytes).
  std::vector<uint8_t> header(12, 0);
  header[1] = 1;
  header.insert(header.end(), std::initializer_list<uint8_t>{0xc0, 1});
  EXPECT_EQ(read_name(header, 12, end).error(), Error::kPointerLoop);
}

TEST(DnsMessage, RefusesNamesOver255Octets) {
  std::vector<uint8_t> m(12, 0);
  for (int i = 0; i < 5; ++i) {
    m.push_back(63);
    m.insert(m.end(), 63, 'a');
  }
  m.push_back(0);
  size_t end = 0;
  EXPECT_EQ(read_name(m, 12, end).error(), Error::kNameTooLong);
}

TEST(DnsMessage, ALabelMayHoldADotWithoutMeaningTwo) {
  std::vector<uint8_t> m(12, 0);
  m.insert(m.end(), std::initializer_list<uint8_t>{3, 'a', '.', 'b', 0});
  size_t end = 0;
  auto n = read_name(m, 12, end);
  ASSERT_TRUE(n);
  EXPECT_NE(n->bytes(), name_from_text("a.b")->bytes());
  EXPECT_EQ(n->text(), "a\\046b");
}

TEST(DnsMessage, ReadsAnUpstreamAnswersTtls) {
  auto q = query("a.example", kA);
  auto a = test::a_answer(q, 2, 300);
  auto info = parse_response(a);
  ASSERT_TRUE(info) << to_string(info.error());
  EXPECT_EQ(info->min_ttl, 300u);
  EXPECT_EQ(info->ttl_offsets.size(), 2u);
  EXPECT_EQ(get32(a, info->ttl_offsets[1]), 301u);
  EXPECT_FALSE(parse_response(q));  // not a response
}

TEST(DnsMessage, NegativeAnswerTtlIsTheSoaMinimum) {
  auto q = query("nope.example", kA);
  auto a = test::a_answer(q, 0, 0, kNxDomain);
  std::vector<uint8_t> with_soa = a;
  add_soa(with_soa, "example", 900, 60);
  auto info = parse_response(with_soa);
  ASSERT_TRUE(info) << to_string(info.error());
  EXPECT_EQ(info->header.rcode(), kNxDomain);
  EXPECT_EQ(info->soa_minimum, 60u);
}

TEST(DnsMessage, WritesAnswersAndTruncates) {
  auto m = query("bob.mesh.internal", kA, 7, 1232);
  auto q = parse_query(m);
  ASSERT_TRUE(q);
  std::vector<uint8_t> out;
  start_answer(out, m, *q, kNoError, true);
  const uint8_t ip[4] = {240, 240, 1, 2};
  add_answer(out, kA, 30, ip);
  add_opt(out, kOurUdpSize);
  auto info = parse_response(out);
  ASSERT_TRUE(info) << to_string(info.error());
  EXPECT_EQ(info->header.id, 7);
  EXPECT_EQ(info->header.ancount, 1);
  EXPECT_EQ(info->header.arcount, 1);
  EXPECT_EQ(info->min_ttl, 30u);
  EXPECT_EQ(info->name.text(), "bob.mesh.internal");
  truncate_answer(out, m, *q);
  auto cut = parse_response(out);
  ASSERT_TRUE(cut) << to_string(cut.error());
  EXPECT_TRUE(cut->header.tc());
  EXPECT_EQ(cut->header.ancount, 0);
  EXPECT_EQ(cut->header.arcount, 1);  // the OPT stays
}

TEST(DnsMessage, FormErrKeepsTheId) {
  std::vector<uint8_t> out;
  Header h{0x4242, 0x0100, 9, 0, 0, 0};
  header_only_answer(out, h, kFormErr);
  auto parsed = parse_header(out);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->id, 0x4242);
  EXPECT_TRUE(parsed->qr());
  EXPECT_EQ(parsed->rcode(), kFormErr);
  EXPECT_EQ(parsed->qdcount, 0);
}

}  // namespace
}  // namespace ugate::dns

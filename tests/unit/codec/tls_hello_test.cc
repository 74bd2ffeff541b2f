#include "codec/tls_hello.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "openssl_hello.h"

namespace ugate {
namespace {

using testing_data::kOpensslHello;
using testing_data::unhex;

Result<ClientHello, HelloError> parse(const std::vector<uint8_t>& b) { return parse_client_hello(b); }
// Looks like TLS but is malformed or too large.
bool malformed(const Result<ClientHello, HelloError>& r) {
  return !r && r.error() != HelloError::kNeedMore && r.error() != HelloError::kNotTls;
}

// The same handshake message carried in two records split at `at`.
std::vector<uint8_t> split_records(const std::vector<uint8_t>& one_record, size_t at) {
  std::vector<uint8_t> body(one_record.begin() + 5, one_record.end());
  std::vector<uint8_t> out;
  for (auto [from, to] : {std::pair<size_t, size_t>{0, at}, {at, body.size()}}) {
    size_t n = to - from;
    out.insert(out.end(), {0x16, 0x03, 0x01, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
    out.insert(out.end(), body.begin() + from, body.begin() + to);
  }
  return out;
}

TEST(TlsHello, ReadsSniAndAlpnFromOpenssl) {
  auto r = parse(unhex(kOpensslHello));
  ASSERT_TRUE(r) << to_string(r.error());
  EXPECT_EQ(r->sni, "a.test");
  EXPECT_EQ(r->alpn, (std::vector<std::string>{"h2", "http/1.1"}));
}

TEST(TlsHello, EveryPrefixNeedsMore) {
  auto full = unhex(kOpensslHello);
  for (size_t n = 0; n < full.size(); ++n) {
    auto r = parse(std::vector<uint8_t>(full.begin(), full.begin() + n));
    ASSERT_EQ(r.error(), HelloError::kNeedMore) << "prefix of " << n << " bytes: " << to_string(r.error());
  }
}

TEST(TlsHello, HandshakeSplitAcrossRecords) {
  auto full = unhex(kOpensslHello);
  for (size_t at : {1u, 3u, 4u, 50u, 200u, static_cast<unsigned>(full.size() - 6)}) {
    auto two = split_records(full, at);
    auto r = parse(two);
    ASSERT_TRUE(r) << "split at " << at << ": " << to_string(r.error());
    EXPECT_EQ(r->sni, "a.test");
    for (size_t n = 0; n < two.size(); ++n)
      ASSERT_EQ(parse(std::vector<uint8_t>(two.begin(), two.begin() + n)).error(), HelloError::kNeedMore)
          << "split at " << at << ", prefix " << n;
  }
}

TEST(TlsHello, OtherProtocolsAreNotTls) {
  std::string get = "GET / HTTP/1.1\r\n";
  EXPECT_EQ(parse(std::vector<uint8_t>(get.begin(), get.end())).error(), HelloError::kNotTls);
  EXPECT_EQ(parse({0x05, 0x01, 0x00}).error(), HelloError::kNotTls);  // SOCKS5 greeting
  EXPECT_EQ(parse({0x16, 0x09}).error(), HelloError::kNotTls);
}

TEST(TlsHello, MalformedInputIsAnErrorWithAReason) {
  auto full = unhex(kOpensslHello);
  auto bad = full;
  bad[5] = 2;  // a ServerHello
  EXPECT_TRUE(malformed(parse(bad)));
  bad = full;
  bad[3] = 0, bad[4] = 0;  // empty record
  EXPECT_TRUE(malformed(parse(bad)));
  bad = full;
  bad[6] = 0xff;  // handshake length far beyond the limit
  auto r = parse(bad);
  EXPECT_TRUE(malformed(r));
  EXPECT_EQ(to_string(r.error()), "ClientHello too large");
  bad = full;
  bad[9 + 2 + 32] = 33;  // session id longer than 32 bytes
  r = parse(bad);
  EXPECT_TRUE(malformed(r));
  EXPECT_EQ(to_string(r.error()), "session id longer than 32 bytes");
}

TEST(TlsHello, OversizedStreamOfRecordsStops) {
  // Endless small records that never complete a message: bounded.
  std::vector<uint8_t> b = {0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0xff, 0xff};
  while (b.size() < kMaxHelloBytes + 100) b.insert(b.end(), {0x16, 0x03, 0x01, 0x00, 0x01, 0x00});
  EXPECT_TRUE(malformed(parse(b)));
}

}  // namespace
}  // namespace ugate

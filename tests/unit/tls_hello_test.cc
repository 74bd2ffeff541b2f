#include "io/tls_hello.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ugate {
namespace {

// A ClientHello sent by `openssl s_client -servername a.test -alpn h2,http/1.1`
// (OpenSSL 3.0, TLS 1.3), captured on loopback.
const char* const kOpensslHello =
    "1603010145010001410303e9c35cdd175a13b96ad2cfea99fe1980e7d7e9ed85e9d85e2c73ae71aa1a036c204bd69dc2b5cc"
    "ed445bd28facba1ac84637ee17f076e363abd2dd3500ea176986003e130213031301c02cc030009fcca9cca8ccaac02bc02f"
    "009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f00ff010000ba0000000b0009"
    "000006612e74657374000b000403000102000a00160014001d0017001e001900180100010101020103010400230000001000"
    "0e000c02683208687474702f312e310016000000170000000d002a0028040305030603080708080809080a080b0804080508"
    "06040105010601030303010302040205020602002b0009080304030303020301002d00020101003300260024001d00202231"
    "8270f54b9f2555af1d79bb7fae7f0905169bb9ad1dedb949c8f15280816b";

std::vector<uint8_t> unhex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

HelloResult parse(const std::vector<uint8_t>& b) { return parse_client_hello(b); }

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
  ASSERT_EQ(r.status, HelloStatus::kDone) << r.error;
  EXPECT_EQ(r.hello.sni, "a.test");
  EXPECT_EQ(r.hello.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
}

TEST(TlsHello, EveryPrefixNeedsMore) {
  auto full = unhex(kOpensslHello);
  for (size_t n = 0; n < full.size(); ++n) {
    auto r = parse(std::vector<uint8_t>(full.begin(), full.begin() + n));
    ASSERT_EQ(r.status, HelloStatus::kNeedMore) << "prefix of " << n << " bytes: " << r.error;
  }
}

TEST(TlsHello, HandshakeSplitAcrossRecords) {
  auto full = unhex(kOpensslHello);
  for (size_t at : {1u, 3u, 4u, 50u, 200u, static_cast<unsigned>(full.size() - 6)}) {
    auto two = split_records(full, at);
    auto r = parse(two);
    ASSERT_EQ(r.status, HelloStatus::kDone) << "split at " << at << ": " << r.error;
    EXPECT_EQ(r.hello.sni, "a.test");
    for (size_t n = 0; n < two.size(); ++n)
      ASSERT_EQ(parse(std::vector<uint8_t>(two.begin(), two.begin() + n)).status, HelloStatus::kNeedMore)
          << "split at " << at << ", prefix " << n;
  }
}

TEST(TlsHello, OtherProtocolsAreNotTls) {
  std::string get = "GET / HTTP/1.1\r\n";
  EXPECT_EQ(parse(std::vector<uint8_t>(get.begin(), get.end())).status, HelloStatus::kNotTls);
  EXPECT_EQ(parse({0x05, 0x01, 0x00}).status, HelloStatus::kNotTls);  // SOCKS5 greeting
  EXPECT_EQ(parse({0x16, 0x09}).status, HelloStatus::kNotTls);
}

TEST(TlsHello, MalformedInputIsAnErrorWithAReason) {
  auto full = unhex(kOpensslHello);
  auto bad = full;
  bad[5] = 2;  // a ServerHello
  EXPECT_EQ(parse(bad).status, HelloStatus::kError);
  bad = full;
  bad[3] = 0, bad[4] = 0;  // empty record
  EXPECT_EQ(parse(bad).status, HelloStatus::kError);
  bad = full;
  bad[6] = 0xff;  // handshake length far beyond the limit
  auto r = parse(bad);
  EXPECT_EQ(r.status, HelloStatus::kError);
  EXPECT_EQ(r.error, "ClientHello too large");
  bad = full;
  bad[9 + 2 + 32] = 33;  // session id longer than 32 bytes
  r = parse(bad);
  EXPECT_EQ(r.status, HelloStatus::kError);
  EXPECT_EQ(r.error, "session id longer than 32 bytes");
}

TEST(TlsHello, OversizedStreamOfRecordsStops) {
  // Endless small records that never complete a message: bounded.
  std::vector<uint8_t> b = {0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0xff, 0xff};
  while (b.size() < kMaxHelloBytes + 100) b.insert(b.end(), {0x16, 0x03, 0x01, 0x00, 0x01, 0x00});
  EXPECT_EQ(parse(b).status, HelloStatus::kError);
}

}  // namespace
}  // namespace ugate

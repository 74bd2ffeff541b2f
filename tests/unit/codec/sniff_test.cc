#include "codec/sniff.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "openssl_hello.h"

namespace ugate {
namespace {

using testing_data::kOpensslHello;
using testing_data::unhex;

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

// What the sniffer decided: a protocol, kNeedMore, or kUnknown for any other error.
enum class What { kNeedMore, kTls, kHttp1, kH2c, kSocks5, kUnknown };
What what(const std::vector<uint8_t>& b) {
  auto r = sniff_protocol(b);
  if (r.need_more()) return What::kNeedMore;
  if (!r) return What::kUnknown;
  switch (r->what) {
    case Sniffed::kTls: return What::kTls;
    case Sniffed::kHttp1: return What::kHttp1;
    case Sniffed::kH2c: return What::kH2c;
    case Sniffed::kSocks5: return What::kSocks5;
  }
  return What::kUnknown;
}

// Every strict prefix of `whole` needs more, and `whole` is `expected`.
void expect_prefixes_then(const std::vector<uint8_t>& whole, What expected) {
  for (size_t n = 0; n < whole.size(); ++n)
    ASSERT_EQ(what({whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n)}), What::kNeedMore)
        << n << " bytes";
  EXPECT_EQ(what(whole), expected);
}

TEST(Sniff, TlsClientHelloWithSniAndAlpn) {
  auto hello = unhex(kOpensslHello);
  expect_prefixes_then(hello, What::kTls);
  auto r = sniff_protocol(hello);
  EXPECT_EQ(r->hello.sni, "a.test");
  EXPECT_EQ(r->hello.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(to_string(r->what), "tls");
}

TEST(Sniff, MalformedOrOversizedTlsIsUnknown) {
  auto hello = unhex(kOpensslHello);
  hello[5] = 2;  // a ServerHello
  auto r = sniff_protocol(hello);
  EXPECT_EQ(what(hello), What::kUnknown);
  EXPECT_NE(to_string(r.error()).find("ClientHello"), std::string::npos) << to_string(r.error());
  // A record that announces more than a ClientHello may take.
  EXPECT_EQ(what(unhex("16030140000100ffff")), What::kUnknown);
  EXPECT_EQ(what(unhex("1604")), What::kUnknown) << "not TLS 1.x";
}

TEST(Sniff, Http1RequestsByMethod) {
  expect_prefixes_then(bytes("GET "), What::kHttp1);
  EXPECT_EQ(what(bytes("CONNECT a.test:443 HTTP/1.1\r\n")), What::kHttp1);
  EXPECT_EQ(what(bytes("POST http://a.test/ HTTP/1.0\r\n")), What::kHttp1);
  EXPECT_EQ(what(bytes("PRI * HTTP/1.1\r\n")), What::kHttp1) << "PRI, but not the preface";
  EXPECT_EQ(what(bytes("UPDATEREDIRECTREF /")), What::kHttp1);
  EXPECT_EQ(to_string(Sniffed::kHttp1), "http1");
}

TEST(Sniff, NotHttpMethods) {
  EXPECT_EQ(what(bytes("get / HTTP/1.1\r\n")), What::kUnknown) << "methods are case-sensitive";
  EXPECT_EQ(what(bytes(" GET")), What::kUnknown);
  EXPECT_EQ(what(bytes("GE\r\n")), What::kUnknown);
  EXPECT_EQ(what(bytes("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")), What::kUnknown) << "too long for a method";
  EXPECT_EQ(what(bytes("AAAAAAAAAAAAAAAAAAAA")), What::kNeedMore) << "20 bytes may still be a method";
}

TEST(Sniff, Http2PriorKnowledgePreface) {
  expect_prefixes_then(bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), What::kH2c);
  auto with_settings = bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04");
  EXPECT_EQ(what(with_settings), What::kH2c);
  EXPECT_EQ(what(bytes("PRI * HTTP/2.0\r\n\r\nXX")), What::kHttp1) << "a PRI request that is not the preface";
}

TEST(Sniff, Socks5Greeting) {
  expect_prefixes_then({0x05, 0x01}, What::kSocks5);
  EXPECT_EQ(what({0x05, 0x02, 0x00, 0x02}), What::kSocks5);
  EXPECT_EQ(what({0x05, 0x00}), What::kUnknown) << "no methods";
  EXPECT_EQ(what({0x04, 0x01, 0x00, 0x50}), What::kUnknown) << "SOCKS4 is not served";
}

TEST(Sniff, GarbageIsUnknownWithAReason) {
  for (auto b : {std::vector<uint8_t>{0x00}, {0xff, 0xfe}, bytes("SSH-2.0-OpenSSH_9.2\r\n"), bytes("\r\n")}) {
    auto r = sniff_protocol(b);
    EXPECT_EQ(what(b), What::kUnknown);
    EXPECT_FALSE(to_string(r.error()).empty());
    EXPECT_FALSE(r) << "no protocol, so no name for StreamMeta::sniffed";
  }
}

}  // namespace
}  // namespace ugate

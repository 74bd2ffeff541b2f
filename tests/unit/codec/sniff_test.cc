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

Sniffed what(const std::vector<uint8_t>& b) { return sniff_protocol(b).what; }

// Every strict prefix of `whole` needs more, and `whole` is `expected`.
void expect_prefixes_then(const std::vector<uint8_t>& whole, Sniffed expected) {
  for (size_t n = 0; n < whole.size(); ++n)
    ASSERT_EQ(what({whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n)}), Sniffed::kNeedMore)
        << n << " bytes";
  EXPECT_EQ(what(whole), expected);
}

TEST(Sniff, TlsClientHelloWithSniAndAlpn) {
  auto hello = unhex(kOpensslHello);
  expect_prefixes_then(hello, Sniffed::kTls);
  SniffResult r = sniff_protocol(hello);
  EXPECT_EQ(r.hello.sni, "a.test");
  EXPECT_EQ(r.hello.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(to_string(r.what), "tls");
}

TEST(Sniff, MalformedOrOversizedTlsIsUnknown) {
  auto hello = unhex(kOpensslHello);
  hello[5] = 2;  // a ServerHello
  SniffResult r = sniff_protocol(hello);
  EXPECT_EQ(r.what, Sniffed::kUnknown);
  EXPECT_NE(r.error.find("ClientHello"), std::string::npos) << r.error;
  // A record that announces more than a ClientHello may take.
  EXPECT_EQ(what(unhex("16030140000100ffff")), Sniffed::kUnknown);
  EXPECT_EQ(what(unhex("1604")), Sniffed::kUnknown) << "not TLS 1.x";
}

TEST(Sniff, Http1RequestsByMethod) {
  expect_prefixes_then(bytes("GET "), Sniffed::kHttp1);
  EXPECT_EQ(what(bytes("CONNECT a.test:443 HTTP/1.1\r\n")), Sniffed::kHttp1);
  EXPECT_EQ(what(bytes("POST http://a.test/ HTTP/1.0\r\n")), Sniffed::kHttp1);
  EXPECT_EQ(what(bytes("PRI * HTTP/1.1\r\n")), Sniffed::kHttp1) << "PRI, but not the preface";
  EXPECT_EQ(what(bytes("UPDATEREDIRECTREF /")), Sniffed::kHttp1);
  EXPECT_EQ(to_string(Sniffed::kHttp1), "http1");
}

TEST(Sniff, NotHttpMethods) {
  EXPECT_EQ(what(bytes("get / HTTP/1.1\r\n")), Sniffed::kUnknown) << "methods are case-sensitive";
  EXPECT_EQ(what(bytes(" GET")), Sniffed::kUnknown);
  EXPECT_EQ(what(bytes("GE\r\n")), Sniffed::kUnknown);
  EXPECT_EQ(what(bytes("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")), Sniffed::kUnknown) << "too long for a method";
  EXPECT_EQ(what(bytes("AAAAAAAAAAAAAAAAAAAA")), Sniffed::kNeedMore) << "20 bytes may still be a method";
}

TEST(Sniff, Http2PriorKnowledgePreface) {
  expect_prefixes_then(bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Sniffed::kH2c);
  auto with_settings = bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04");
  EXPECT_EQ(what(with_settings), Sniffed::kH2c);
  EXPECT_EQ(what(bytes("PRI * HTTP/2.0\r\n\r\nXX")), Sniffed::kHttp1) << "a PRI request that is not the preface";
}

TEST(Sniff, Socks5Greeting) {
  expect_prefixes_then({0x05, 0x01}, Sniffed::kSocks5);
  EXPECT_EQ(what({0x05, 0x02, 0x00, 0x02}), Sniffed::kSocks5);
  EXPECT_EQ(what({0x05, 0x00}), Sniffed::kUnknown) << "no methods";
  EXPECT_EQ(what({0x04, 0x01, 0x00, 0x50}), Sniffed::kUnknown) << "SOCKS4 is not served";
}

TEST(Sniff, GarbageIsUnknownWithAReason) {
  for (auto b : {std::vector<uint8_t>{0x00}, {0xff, 0xfe}, bytes("SSH-2.0-OpenSSH_9.2\r\n"), bytes("\r\n")}) {
    SniffResult r = sniff_protocol(b);
    EXPECT_EQ(r.what, Sniffed::kUnknown);
    EXPECT_FALSE(r.error.empty());
    EXPECT_EQ(to_string(r.what), "");
  }
}

}  // namespace
}  // namespace ugate

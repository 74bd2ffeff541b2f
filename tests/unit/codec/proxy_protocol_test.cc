#include "codec/proxy_protocol.h"

#include <gtest/gtest.h>

namespace ugate {
namespace {

std::string hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) out += {d[c >> 4], d[c & 15]};
  return out;
}

TEST(ProxyProtocol, V2HeaderForIpv4WithThePeerIdentityTlv) {
  namespace ip = boost::asio::ip;
  TcpEndpoint src(ip::make_address("192.0.2.1"), 1234), dst(ip::make_address("127.0.0.1"), 80);
  std::string h = proxy_v2_header(src, dst, "spiffe://td/ns/a/sa/b");
  EXPECT_EQ(hex(h.substr(0, 16)), "0d0a0d0a000d0a515549540a" "21" "11" "0024");  // 12 + 3 + 21 = 36 bytes follow
  EXPECT_EQ(hex(h.substr(16, 12)), "c0000201" "7f000001" "04d2" "0050");
  EXPECT_EQ(hex(h.substr(28, 3)), "d00015");
  EXPECT_EQ(h.substr(31), "spiffe://td/ns/a/sa/b");
}

TEST(ProxyProtocol, MixedFamiliesGoAsIpv6AndNoIdentityMeansNoTlv) {
  namespace ip = boost::asio::ip;
  TcpEndpoint src(ip::make_address("2001:db8::1"), 1), dst(ip::make_address("10.0.0.1"), 2);
  std::string h = proxy_v2_header(src, dst, "");
  EXPECT_EQ(hex(h.substr(12, 4)), "21" "21" "0024");
  EXPECT_EQ(hex(h.substr(16 + 16, 16)), "00000000000000000000ffff0a000001");
  EXPECT_EQ(h.size(), 16u + 36u);
}

TEST(ProxyProtocol, OriginalSourceIsTheFirstForwardedNode) {
  StreamMeta m;
  m.source = TcpEndpoint(boost::asio::ip::make_address("10.0.0.9"), 9);
  EXPECT_EQ(format_endpoint(original_source(m)), "10.0.0.9:9");
  m.headers = {{"forwarded", "for=\"[2001:db8::7]:4711\";proto=http, for=\"10.0.0.8:1\""}};
  EXPECT_EQ(format_endpoint(original_source(m)), "[2001:db8::7]:4711");
  m.headers = {{"forwarded", "for=unknown"}};
  EXPECT_EQ(format_endpoint(original_source(m)), "10.0.0.9:9");
}

TEST(ProxyProtocol, ZtunnelsForwardedWithoutAPortNamesTheClientWithPortZero) {
  namespace ip = boost::asio::ip;
  StreamMeta m;
  m.source = TcpEndpoint(ip::make_address("10.0.0.9"), 15008);  // the ztunnel's own connection
  m.headers = {{"forwarded", "for=10.0.0.5"}};
  TcpEndpoint client = original_source(m);
  EXPECT_EQ(client.address().to_string(), "10.0.0.5");
  EXPECT_EQ(client.port(), 0) << "unknown, not the ztunnel's port";
  std::string h = proxy_v2_header(client, TcpEndpoint(ip::make_address("127.0.0.1"), 80), "");
  EXPECT_EQ(hex(h.substr(16, 12)), "0a000005" "7f000001" "0000" "0050");
  m.headers = {{"forwarded", "for=\"[2001:db8::1]\""}};
  EXPECT_EQ(original_source(m).address().to_string(), "2001:db8::1");
  m.headers = {{"forwarded", "for=_hidden, for=10.0.0.7"}};
  EXPECT_EQ(format_endpoint(original_source(m)), "10.0.0.9:15008") << "the client is hidden: the stream's own source";
}

}  // namespace
}  // namespace ugate

// Reading headers, with the examples of HAProxy's proxy-protocol.txt.
namespace ugate {
namespace {

using ParseResult = Result<ProxyHeader, ProxyHeaderError>;

ParseResult parse(std::string_view s) {
  return parse_proxy_header({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
}

std::string endpoints(const ProxyHeader& h) {
  auto one = [](const TcpEndpoint& e) { return e.address().to_string() + " " + std::to_string(e.port()); };
  return one(h.source) + " -> " + one(h.destination);
}

// Every proper prefix of `header` needs more; the whole, followed by the
// client's bytes, is a header of header.size() bytes.
ProxyHeader parse_in_pieces(const std::string& header) {
  for (size_t n = 0; n < header.size(); ++n) {
    auto p = parse(std::string_view(header).substr(0, n));
    EXPECT_TRUE(p.need_more()) << n << " bytes: " << (p ? "parsed" : std::string(to_string(p.error())));
  }
  auto p = parse(header + "GET / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(p) << to_string(p.error());
  if (!p) return {};
  EXPECT_EQ(p->size, header.size());
  return *p;
}

// CRC32c of the test's own, checked against the standard check value.
uint32_t crc32c(std::string_view s) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char c : s) {
    crc ^= c;
    for (int i = 0; i < 8; ++i) crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
  }
  return ~crc;
}

std::string v2(uint8_t ver_cmd, uint8_t family, const std::string& body) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(family);
  h += static_cast<char>(body.size() >> 8);
  h += static_cast<char>(body.size() & 0xff);
  return h + body;
}

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out += static_cast<char>(b);
  return out;
}

const std::string kV4Addresses = bytes({192, 0, 2, 1, 127, 0, 0, 1, 0x04, 0xd2, 0x01, 0xbb});  // :1234 -> :443

TEST(ProxyHeaderV1, TheSpecsExample) {
  ProxyHeader h = parse_in_pieces("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
  EXPECT_EQ(h.version, 1);
  EXPECT_TRUE(h.proxied);
  EXPECT_EQ(endpoints(h), "192.168.0.1 56324 -> 192.168.0.11 443");
}

TEST(ProxyHeaderV1, TheSpecsLongestLines) {
  ProxyHeader h = parse_in_pieces("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");  // 56 bytes
  EXPECT_EQ(h.size, 56u);
  EXPECT_EQ(endpoints(h), "255.255.255.255 65535 -> 255.255.255.255 65535");
  const std::string f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  h = parse_in_pieces("PROXY TCP6 " + f + " " + f + " 65535 65535\r\n");  // 104 bytes
  EXPECT_EQ(h.size, 104u);
  EXPECT_TRUE(h.proxied);
  EXPECT_EQ(h.source.address().to_string(), f);
  h = parse_in_pieces("PROXY UNKNOWN\r\n");  // 15 bytes: the connection's own addresses stand
  EXPECT_EQ(h.size, 15u);
  EXPECT_FALSE(h.proxied);
  const std::string worst = "PROXY UNKNOWN " + f + " " + f + " 65535 65535\r\n";  // 107 bytes, the most
  ASSERT_EQ(worst.size(), kMaxProxyV1Line);
  h = parse_in_pieces(worst);
  EXPECT_EQ(h.size, 107u);
  EXPECT_FALSE(h.proxied) << "UNKNOWN: whatever follows it is ignored";
  EXPECT_EQ(parse("PROXY UNKNOWN " + f + " " + f + " 65535 655351\r\n").error(), ProxyHeaderError::kV1TooLong);
  EXPECT_EQ(parse("PROXY " + std::string(101, 'A')).error(), ProxyHeaderError::kV1TooLong) << "107 bytes, no CRLF";
}

TEST(ProxyHeaderV1, Ipv6AndMappedForms) {
  ProxyHeader h = parse_in_pieces("PROXY TCP6 2001:db8::1 ::1 443 0\r\n");
  EXPECT_EQ(endpoints(h), "2001:db8::1 443 -> ::1 0");
  h = parse_in_pieces("PROXY TCP6 ::ffff:192.0.2.1 ::ffff:10.0.0.1 1 2\r\n");
  EXPECT_EQ(h.source.address().to_string(), "::ffff:192.0.2.1");
}

TEST(ProxyHeaderV1, AnythingOffTheGrammarIsRefused) {
  for (const char* line : {
           "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n",       // LF alone
           "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rX",      // CR alone
           "PROXY TCP4 192.168.0.1  192.168.0.11 56324 443\r\n",    // two spaces
           "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n",    // a trailing space
           "PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n",         // a field missing
           "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 9\r\n",   // one too many
           "PROXY TCP4 192.168.00.1 192.168.0.11 56324 443\r\n",    // a heading zero in an address
           "PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n",    // and in a port
           "PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n",     // a port out of range
           "PROXY TCP4 192.168.0.1 192.168.0.11 -1 443\r\n",
           "PROXY TCP4 ::1 ::1 1 2\r\n",                            // IPv6 under TCP4
           "PROXY TCP6 192.168.0.1 192.168.0.11 1 2\r\n",           // IPv4 under TCP6
           "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",                   // a scope
           "PROXY TCP4 example.com 192.168.0.11 1 2\r\n",
           "PROXY UDP4 192.168.0.1 192.168.0.11 1 2\r\n",
           "PROXY tcp4 192.168.0.1 192.168.0.11 1 2\r\n",
           "PROXY \r\n",
           "PROXY TCP4 192.168.0.1\t192.168.0.11 1 2\r\n",           // a control character
       })
    EXPECT_EQ(parse(line).error(), ProxyHeaderError::kV1Malformed) << line;
}

TEST(ProxyHeader, OtherProtocolsAreNotHeaders) {
  for (std::string_view s : {std::string_view("GET / HTTP/1.1\r\n"), std::string_view("\x16\x03\x01\x02\x00", 5),
                             std::string_view("\x05\x01\x00", 3), std::string_view("PROXX TCP4"),
                             std::string_view("PRI * HTTP/2.0"), std::string_view("\r\n\r\nX")})
    EXPECT_EQ(parse(s).error(), ProxyHeaderError::kNotProxy) << s;
  EXPECT_TRUE(parse("").need_more());
  EXPECT_TRUE(parse("PRO").need_more());
  EXPECT_TRUE(parse(std::string("\r\n\r\n\0\r\n", 7)).need_more());
}

TEST(ProxyHeaderV2, OurOwnHeadersReadBack) {
  namespace ip = boost::asio::ip;
  TcpEndpoint src(ip::make_address("192.0.2.1"), 1234), dst(ip::make_address("127.0.0.1"), 80);
  ProxyHeader h = parse_in_pieces(proxy_v2_header(src, dst, "spiffe://td/ns/a/sa/b"));  // a TLV too
  EXPECT_EQ(h.version, 2);
  EXPECT_TRUE(h.proxied);
  EXPECT_EQ(endpoints(h), "192.0.2.1 1234 -> 127.0.0.1 80");
  TcpEndpoint src6(ip::make_address("2001:db8::1"), 65535);
  h = parse_in_pieces(proxy_v2_header(src6, dst, ""));
  EXPECT_EQ(endpoints(h), "2001:db8::1 65535 -> ::ffff:127.0.0.1 80");
}

TEST(ProxyHeaderV2, LocalUnspecUdpAndUnixKeepTheConnectionsOwnAddresses) {
  ProxyHeader h = parse_in_pieces(v2(0x20, 0x11, kV4Addresses));  // LOCAL (a health check) with addresses
  EXPECT_FALSE(h.proxied);
  EXPECT_EQ(h.size, 28u);
  h = parse_in_pieces(v2(0x20, 0x00, ""));  // LOCAL as the spec suggests sending it
  EXPECT_FALSE(h.proxied);
  EXPECT_EQ(h.size, 16u);
  EXPECT_FALSE(parse_in_pieces(v2(0x21, 0x00, "")).proxied);             // PROXY, UNSPEC
  EXPECT_FALSE(parse_in_pieces(v2(0x21, 0x12, kV4Addresses)).proxied);   // UDP over IPv4
  EXPECT_FALSE(parse_in_pieces(v2(0x21, 0x31, std::string(216, 'u'))).proxied);  // UNIX stream
  h = parse_in_pieces(v2(0x21, 0x11, kV4Addresses));
  EXPECT_TRUE(h.proxied);
  EXPECT_EQ(endpoints(h), "192.0.2.1 1234 -> 127.0.0.1 443");
}

TEST(ProxyHeaderV2, TlvsMustFitAndAChecksumMustMatch) {
  // Known TLVs (AUTHORITY, NOOP padding, a custom one) are skipped.
  std::string tlvs = bytes({0x02, 0, 5}) + "a.com" + bytes({0x04, 0, 0}) + bytes({0xe0, 0, 2, 1, 2});
  EXPECT_TRUE(parse_in_pieces(v2(0x21, 0x11, kV4Addresses + tlvs)).proxied);
  EXPECT_EQ(parse(v2(0x21, 0x11, kV4Addresses + bytes({0x02, 0, 9}) + "a.com")).error(), ProxyHeaderError::kV2Tlv);
  EXPECT_EQ(parse(v2(0x21, 0x11, kV4Addresses + bytes({0x02, 0}))).error(), ProxyHeaderError::kV2Tlv);
  EXPECT_EQ(parse(v2(0x21, 0x11, kV4Addresses + bytes({0x03, 0, 2, 0, 0}))).error(), ProxyHeaderError::kV2Tlv);

  ASSERT_EQ(crc32c("123456789"), 0xe3069283u);  // RFC 3720's check value for CRC32c
  std::string header = v2(0x21, 0x11, kV4Addresses + bytes({0x03, 0, 4, 0, 0, 0, 0}));
  uint32_t crc = crc32c(header);
  for (int i = 0; i < 4; ++i) header[header.size() - 4 + i] = static_cast<char>(crc >> (24 - 8 * i));
  EXPECT_TRUE(parse_in_pieces(header).proxied);
  header[16] ^= 1;  // the source address altered on the way
  EXPECT_EQ(parse(header).error(), ProxyHeaderError::kV2Checksum);
}

TEST(ProxyHeaderV2, BadFieldsAreRefused) {
  EXPECT_EQ(parse(v2(0x11, 0x11, kV4Addresses)).error(), ProxyHeaderError::kV2Version);
  EXPECT_EQ(parse(v2(0x22, 0x11, kV4Addresses)).error(), ProxyHeaderError::kV2Command);
  EXPECT_EQ(parse(v2(0x21, 0x41, kV4Addresses)).error(), ProxyHeaderError::kV2Family);
  EXPECT_EQ(parse(v2(0x21, 0x13, kV4Addresses)).error(), ProxyHeaderError::kV2Family);
  EXPECT_EQ(parse(v2(0x21, 0x11, kV4Addresses.substr(0, 8))).error(), ProxyHeaderError::kV2ShortAddresses);
  EXPECT_EQ(parse(v2(0x21, 0x21, kV4Addresses)).error(), ProxyHeaderError::kV2ShortAddresses) << "IPv6 needs 36";
  // The length alone decides a header is too large; nothing more is awaited.
  std::string big = v2(0x21, 0x11, std::string(kMaxProxyHeader - 16 + 1, '\0'));
  EXPECT_EQ(parse(big.substr(0, 16)).error(), ProxyHeaderError::kTooLarge);
  EXPECT_TRUE(parse_in_pieces(v2(0x21, 0x11, kV4Addresses + bytes({0x04, 0x0f, 0xe1}) +
                                                std::string(kMaxProxyHeader - 16 - 12 - 3, '\0')))
                  .proxied)
      << "exactly the largest";
  for (auto e : {ProxyHeaderError::kNotProxy, ProxyHeaderError::kV2Checksum, ProxyHeaderError::kTooLarge})
    EXPECT_FALSE(to_string(e).empty());
}

}  // namespace
}  // namespace ugate

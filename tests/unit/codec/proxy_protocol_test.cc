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

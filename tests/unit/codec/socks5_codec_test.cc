#include "codec/socks5_codec.h"

#include <gtest/gtest.h>

#include <string>

namespace ugate::socks5 {
namespace {

namespace ip = boost::asio::ip;

std::span<const uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
std::string hex(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += "0123456789abcdef"[c >> 4], out += "0123456789abcdef"[c & 15];
  return out;
}

// Every strict prefix of a valid message asks for more; the whole one parses.
template <typename T>
Result<T, Error> parse_all_prefixes(Result<T, Error> (*parse)(std::span<const uint8_t>), const std::string& msg) {
  for (size_t n = 0; n < msg.size(); ++n)
    EXPECT_EQ(parse(bytes(msg).first(n)).error(), Error::kNeedMore) << "prefix of " << n;
  return parse(bytes(msg));
}

// Malformed: an error, not a prefix that needs more.
template <typename T>
bool failed(const Result<T, Error>& r) {
  return !r && !r.need_more();
}

TEST(Socks5Codec, Greeting) {
  auto p = parse_all_prefixes(parse_greeting, std::string("\x05\x02\x00\x02", 4));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->size, 4u);
  EXPECT_TRUE(p->no_auth);
  EXPECT_TRUE(p->user_pass);
  p = parse_greeting(bytes(std::string("\x05\x01\x02" "extra", 8)));
  EXPECT_EQ(p->size, 3u) << "bytes after the message are not the greeting's";
  EXPECT_FALSE(p->no_auth);
  EXPECT_TRUE(failed(parse_greeting(bytes("\x04\x01")))) << "SOCKS4";
  EXPECT_TRUE(failed(parse_greeting(bytes("GET / HTTP/1.1"))));
  EXPECT_TRUE(failed(parse_greeting(bytes(std::string("\x05\x00", 2))))) << "no methods";
}

TEST(Socks5Codec, Credentials) {
  auto p = parse_all_prefixes(parse_credentials, std::string("\x01\x05" "alice" "\x06" "s3cret", 14));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->size, 14u);
  EXPECT_EQ(p->user, "alice");
  EXPECT_EQ(p->password, "s3cret");
  p = parse_credentials(bytes(std::string("\x01\x01u\x00", 4)));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->password, "");
  EXPECT_TRUE(failed(parse_credentials(bytes(std::string("\x01\x00\x01p", 4))))) << "empty user";
  EXPECT_TRUE(failed(parse_credentials(bytes("\x05\x01")))) << "wrong version";
}

TEST(Socks5Codec, RequestForEachAddressType) {
  auto p = parse_all_prefixes(parse_request, std::string("\x05\x01\x00\x01\x7f\x00\x00\x01\x1f\x90", 10));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->size, 10u);
  EXPECT_EQ(p->command, Command::kConnect);
  EXPECT_EQ(p->target, (HostPort{"127.0.0.1", 8080}));

  std::string v6 = std::string("\x05\x03\x00\x04", 4) + std::string(15, '\0') + "\x01" + std::string("\x00\x35", 2);
  p = parse_all_prefixes(parse_request, v6);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->command, Command::kUdpAssociate);
  EXPECT_EQ(p->target, (HostPort{"::1", 53}));

  p = parse_all_prefixes(parse_request, std::string("\x05\x01\x00\x03\x09" "localhost" "\x01\xbb", 16));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->target, (HostPort{"localhost", 443}));
}

TEST(Socks5Codec, RequestErrorsCarryTheirReply) {
  auto p = parse_request(bytes(std::string("\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50", 10)));
  EXPECT_TRUE(failed(p));
  EXPECT_EQ(error_reply(p.error()), Reply::kCommandNotSupported) << "BIND";
  p = parse_request(bytes(std::string("\x05\x09\x00\x01", 4)));
  EXPECT_EQ(error_reply(p.error()), Reply::kCommandNotSupported);
  p = parse_request(bytes(std::string("\x05\x01\x00\x02", 4)));
  EXPECT_EQ(error_reply(p.error()), Reply::kAddressTypeNotSupported);
  p = parse_request(bytes(std::string("\x05\x01\x00\x03\x03" "a b" "\x00\x50", 10)));
  EXPECT_TRUE(failed(p)) << "a name with a space";
  p = parse_request(bytes(std::string("\x05\x01\x00\x03\x00\x00\x50", 7)));
  EXPECT_TRUE(failed(p)) << "an empty name";
  p = parse_request(bytes(std::string("\x04\x01\x00\x50", 4)));
  EXPECT_TRUE(failed(p));
  EXPECT_FALSE(error_reply(p.error())) << "not SOCKS5: no reply";
}

TEST(Socks5Codec, UdpHeader) {
  std::string d = std::string("\x00\x00\x00\x01\x0a\x00\x00\x02\x00\x35", 10) + "payload";
  auto p = parse_udp_header(bytes(d));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->target, (HostPort{"10.0.0.2", 53}));
  EXPECT_EQ(p->header_size, 10u);
  EXPECT_TRUE(failed(parse_udp_header(bytes(d.substr(0, 9))))) << "short";
  d[2] = 1;
  EXPECT_TRUE(failed(parse_udp_header(bytes(d)))) << "fragment";
}

TEST(Socks5Codec, Replies) {
  EXPECT_EQ(hex(method_reply(Method::kUserPass)), "0502");
  EXPECT_EQ(hex(auth_reply(false)), "0101");
  EXPECT_EQ(hex(reply(Reply::kSucceeded, ip::tcp::endpoint(ip::make_address("10.1.2.3"), 1080))), "050000010a0102030438");
  EXPECT_EQ(hex(reply(Reply::kConnectionRefused, ip::tcp::endpoint())), "05050001000000000000");
  EXPECT_EQ(hex(reply(Reply::kSucceeded, ip::udp::endpoint(ip::make_address("::1"), 2))),
            "0500000400000000000000000000000000000001" "0002");
  // A v4-mapped address is sent as IPv4.
  EXPECT_EQ(hex(reply(Reply::kSucceeded, ip::tcp::endpoint(ip::make_address("::ffff:127.0.0.1"), 80))),
            "050000017f0000010050");
}

TEST(Socks5Codec, UdpReplyHeaderSitsRightBeforeThePayload) {
  uint8_t buf[kMaxUdpReplyHeader + 4] = {};
  uint8_t* payload = buf + kMaxUdpReplyHeader;
  size_t n = write_udp_header(ip::udp::endpoint(ip::make_address("192.0.2.7"), 53), payload);
  EXPECT_EQ(n, 10u);
  EXPECT_EQ(hex(std::string(reinterpret_cast<char*>(payload - n), n)), "000000" "01c0000207" "0035");
  n = write_udp_header(ip::udp::endpoint(ip::make_address("2001:db8::1"), 53), payload);
  EXPECT_EQ(n, kMaxUdpReplyHeader);
}

}  // namespace
}  // namespace ugate::socks5

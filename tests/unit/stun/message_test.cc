// The STUN codec against the RFC 5769 sample messages, and its refusals.
#include "stun/message.h"

#include <gtest/gtest.h>

#include "stun/stun_vectors.h"

namespace ugate::stun {
namespace {

std::span<const uint8_t> bytes_of(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

std::string text(const Attribute* a) { return a ? std::string(a->value.begin(), a->value.end()) : "<absent>"; }

Address v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  Address x;
  x.ip = {a, b, c, d};
  x.port = port;
  return x;
}

TEST(StunMessage, Crc32CheckValue) {
  std::string s = "123456789";
  EXPECT_EQ(crc32(bytes_of(s)), 0xCBF43926u);
}

TEST(StunMessage, Rfc5769Request) {
  auto bytes = vectors::request();
  ASSERT_EQ(bytes.size(), 108u);
  auto m = parse(bytes);  // FINGERPRINT checked here
  ASSERT_TRUE(m) << to_string(m.error());
  EXPECT_EQ(m->method, method::kBinding);
  EXPECT_EQ(m->cls, Class::kRequest);
  EXPECT_EQ(text(m->find(attr::kSoftware)), "STUN test client");
  EXPECT_EQ(text(m->find(attr::kUsername)), "evtj:h6vY");
  EXPECT_TRUE(check_integrity(*m, bytes_of(vectors::kShortTermPassword), false));
  EXPECT_FALSE(check_integrity(*m, bytes_of(std::string("VOkJxbRl1RmTxUk/WvJxBu")), false));
  EXPECT_FALSE(check_integrity(*m, bytes_of(vectors::kShortTermPassword), true));  // no SHA-256 integrity
}

TEST(StunMessage, Rfc5769Ipv4Response) {
  auto bytes = vectors::response_v4();
  ASSERT_EQ(bytes.size(), 80u);
  auto m = parse(bytes);
  ASSERT_TRUE(m) << to_string(m.error());
  EXPECT_EQ(m->cls, Class::kSuccess);
  auto a = read_xor_address(m->find(attr::kXorMappedAddress)->value, m->transaction);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, v4(192, 0, 2, 1, 32853));
  EXPECT_TRUE(check_integrity(*m, bytes_of(vectors::kShortTermPassword), false));

}

// The builder makes the RFC's responses byte for byte (SOFTWARE padded with spaces, as there).
TEST(StunMessage, BuilderReproducesTheResponses) {
  for (bool v6 : {false, true}) {
    auto bytes = v6 ? vectors::response_v6() : vectors::response_v4();
    auto m = parse(bytes);
    ASSERT_TRUE(m);
    Address mapped = v4(192, 0, 2, 1, 32853);
    if (v6) {
      mapped.family = 2;
      mapped.ip = {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
    }
    Builder b(method::kBinding, Class::kSuccess, m->transaction);
    b.add(attr::kSoftware, bytes_of(std::string("test vector")), ' ');
    b.add_xor_address(attr::kXorMappedAddress, mapped);
    b.add_integrity(bytes_of(vectors::kShortTermPassword));
    b.add_fingerprint();
    EXPECT_EQ(b.bytes(), bytes) << (v6 ? "IPv6" : "IPv4");
  }
}

TEST(StunMessage, Rfc5769Ipv6Response) {
  auto bytes = vectors::response_v6();
  ASSERT_EQ(bytes.size(), 92u);
  auto m = parse(bytes);
  ASSERT_TRUE(m) << to_string(m.error());
  auto a = read_xor_address(m->find(attr::kXorMappedAddress)->value, m->transaction);
  ASSERT_TRUE(a);
  Address expect;
  expect.family = 2;
  expect.ip = {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
  expect.port = 32853;
  EXPECT_EQ(*a, expect);
  EXPECT_TRUE(check_integrity(*m, bytes_of(vectors::kShortTermPassword), false));
}

TEST(StunMessage, Rfc5769LongTermRequest) {
  auto bytes = vectors::long_term_request();
  ASSERT_EQ(bytes.size(), 116u);
  auto m = parse(bytes);
  ASSERT_TRUE(m) << to_string(m.error());
  EXPECT_FALSE(m->has(attr::kFingerprint));
  std::string user = text(m->find(attr::kUsername));
  EXPECT_EQ(user, "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9");
  EXPECT_EQ(text(m->find(attr::kNonce)), "f//499k954d6OL34oL9FSTvy64sA");
  EXPECT_EQ(text(m->find(attr::kRealm)), "example.org");
  auto key = long_term_key(user, "example.org", "TheMatrIX");
  EXPECT_EQ(key, (std::array<uint8_t, 16>{0xe8, 0xca, 0x7a, 0xd5, 0x9d, 0x5e, 0xb0, 0x51, 0x8e, 0x31, 0x29, 0x11, 0xd2,
                                          0xda, 0xb2, 0xa9}));
  EXPECT_TRUE(check_integrity(*m, key, false));
  auto wrong = long_term_key(user, "example.org", "TheMatrix");
  EXPECT_FALSE(check_integrity(*m, wrong, false));
}

TEST(StunMessage, BuiltMessagesCheckThemselves) {
  TransactionId t{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  for (bool sha256 : {false, true}) {
    Builder b(method::kBinding, Class::kRequest, t);
    b.add_string(attr::kUsername, "alice");
    sha256 ? b.add_integrity_sha256(bytes_of(std::string("secret"))) : b.add_integrity(bytes_of(std::string("secret")));
    b.add_fingerprint();
    auto bytes = b.take();
    auto m = parse(bytes);
    ASSERT_TRUE(m) << to_string(m.error());
    EXPECT_EQ(m->transaction, t);
    EXPECT_TRUE(check_integrity(*m, bytes_of(std::string("secret")), sha256));
    EXPECT_FALSE(check_integrity(*m, bytes_of(std::string("Secret")), sha256));
  }
}

TEST(StunMessage, FlippedBitsAreCaught) {
  auto bytes = vectors::request();
  bytes[30] ^= 1;  // inside SOFTWARE: FINGERPRINT no longer matches
  auto m = parse(bytes);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error(), Error::kBadFingerprint);
}

TEST(StunMessage, RefusesWhatIsNotStun) {
  auto bytes = vectors::request();
  EXPECT_EQ(parse(std::span(bytes).first(19)).error(), Error::kNotStun);     // shorter than a header
  EXPECT_EQ(parse(std::span(bytes).first(100)).error(), Error::kLengthMismatch);  // truncated
  auto cookie = bytes;
  cookie[5] ^= 0xFF;
  EXPECT_EQ(parse(cookie).error(), Error::kNotStun);
  auto top = bytes;
  top[0] |= 0x80;
  EXPECT_EQ(parse(top).error(), Error::kNotStun);
  auto overrun = bytes;
  overrun[23] = 0xF0;  // SOFTWARE's length past the end
  EXPECT_EQ(parse(overrun).error(), Error::kBadAttribute);
}

TEST(StunMessage, AttributesAfterIntegrityAreIgnoredAndNothingFollowsFingerprint) {
  TransactionId t{};
  Builder b(method::kBinding, Class::kRequest, t);
  b.add_integrity(bytes_of(std::string("k")));
  b.add_string(attr::kSoftware, "ignored");
  auto m = parse(b.bytes());
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->has(attr::kSoftware));
  Builder f(method::kBinding, Class::kRequest, t);
  f.add_fingerprint();
  f.add_string(attr::kSoftware, "after");
  EXPECT_EQ(parse(f.bytes()).error(), Error::kAfterFingerprint);
}

TEST(StunMessage, FramesOnAStream) {
  auto bytes = vectors::request();
  for (size_t n : {0u, 1u, 7u, 19u}) EXPECT_TRUE(next_frame(std::span(bytes).first(n)).need_more()) << n;
  auto f = next_frame(std::span(bytes).first(20));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, FrameKind::kStun);
  EXPECT_EQ(f->size, 108u);
  std::vector<uint8_t> channel{0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5};
  auto c = next_frame(channel);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, FrameKind::kChannelData);
  EXPECT_EQ(c->size, 12u);  // padded to 4 on streams
  std::vector<uint8_t> last_channel{0x7F, 0xFF, 0x00, 0x00};
  EXPECT_EQ(next_frame(last_channel)->kind, FrameKind::kChannelData);
  std::vector<uint8_t> tls{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc};  // a ClientHello
  EXPECT_EQ(next_frame(tls).error(), Error::kNotStun);
  std::vector<uint8_t> high{0x80, 0x01, 0x00, 0x00};
  EXPECT_EQ(next_frame(high).error(), Error::kNotStun);
}

}  // namespace
}  // namespace ugate::stun

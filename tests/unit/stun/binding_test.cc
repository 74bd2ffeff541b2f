// The STUN server's answers (sans-I/O): success, 400, 401, 420, what is
// dropped, and RFC 5780's CHANGE-REQUEST and RESPONSE-PORT.
#include "stun/binding.h"

#include <gtest/gtest.h>

#include <functional>

#include "stun/stun_vectors.h"

namespace ugate::stun {
namespace {

std::span<const uint8_t> bytes_of(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

Address v4(uint8_t d, uint16_t port) {
  Address x;
  x.ip = {127, 0, 0, d};
  x.port = port;
  return x;
}

const TransactionId kTransaction{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2};
const Address kClient = v4(9, 40000);

std::vector<uint8_t> binding(const std::function<void(Builder&)>& more = {}) {
  Builder b(method::kBinding, Class::kRequest, kTransaction);
  if (more) more(b);
  return b.take();
}

// The answer parsed; its FINGERPRINT is checked by parse().
Message reply(const Answer& a) {
  auto m = parse(a.bytes);
  EXPECT_TRUE(m) << (m ? "" : to_string(m.error()));
  return m ? *m : Message{};
}

int code_of(const Message& m) {
  const Attribute* e = m.find(attr::kErrorCode);
  return e && e->value.size() >= 4 ? e->value[2] * 100 + e->value[3] : 0;
}

Answer ask(const ServerOptions& s, std::span<const uint8_t> bytes, Transport t = Transport::kUdp, Origin on = kPrimary) {
  return answer(s, {bytes, t, kClient, on});
}

TEST(StunBinding, AnswersWithTheSourceAddress) {
  ServerOptions s;
  auto req = binding();
  Answer a = ask(s, req);
  ASSERT_EQ(a.outcome, Outcome::kSuccess);
  EXPECT_EQ(a.to, kClient);
  Message m = reply(a);
  EXPECT_EQ(m.cls, Class::kSuccess);
  EXPECT_EQ(m.transaction, kTransaction);
  EXPECT_TRUE(m.has(attr::kFingerprint));
  EXPECT_FALSE(m.has(attr::kMessageIntegrity));
  EXPECT_FALSE(m.has(attr::kOtherAddress));  // no RFC 5780 without another address
  auto mapped = read_xor_address(m.find(attr::kXorMappedAddress)->value, m.transaction);
  ASSERT_TRUE(mapped);
  EXPECT_EQ(*mapped, kClient);
}

TEST(StunBinding, ShortTermCredentials) {
  ServerOptions s;
  s.users.push_back({"alice", "wonderland"});
  // Neither USERNAME nor MESSAGE-INTEGRITY: 400, without integrity.
  auto plain = binding();
  Answer a = ask(s, plain);
  EXPECT_EQ(a.outcome, Outcome::kBadRequest);
  EXPECT_EQ(code_of(reply(a)), 400);
  EXPECT_FALSE(reply(a).has(attr::kMessageIntegrity));
  // Unknown user, then a wrong password: 401 both times.
  auto stranger = binding([](Builder& b) {
    b.add_string(attr::kUsername, "mallory");
    b.add_integrity(bytes_of(std::string("wonderland")));
  });
  EXPECT_EQ(code_of(reply(ask(s, stranger))), 401);
  auto wrong = binding([](Builder& b) {
    b.add_string(attr::kUsername, "alice");
    b.add_integrity(bytes_of(std::string("looking-glass")));
  });
  EXPECT_EQ(ask(s, wrong).outcome, Outcome::kUnauthorized);
  // The right one, with either integrity: the answer carries the same kind.
  for (bool sha256 : {false, true}) {
    auto right = binding([sha256](Builder& b) {
      b.add_string(attr::kUsername, "alice");
      sha256 ? b.add_integrity_sha256(bytes_of(std::string("wonderland"))) : b.add_integrity(bytes_of(std::string("wonderland")));
      b.add_fingerprint();
    });
    Answer ok = ask(s, right);
    ASSERT_EQ(ok.outcome, Outcome::kSuccess) << ok.detail;
    EXPECT_TRUE(check_integrity(reply(ok), bytes_of(std::string("wonderland")), sha256));
  }
}

// RFC 5769's request is an ICE check: its PRIORITY (0x0024) is comprehension-required
// and unknown to a STUN server, which says so (420), authenticated, after checking the integrity.
TEST(StunBinding, Rfc5769RequestGets420WithUnknownAttributes) {
  ServerOptions s;
  s.users.push_back({"evtj:h6vY", vectors::kShortTermPassword});
  auto req = vectors::request();
  Answer a = ask(s, req);
  ASSERT_EQ(a.outcome, Outcome::kUnknownAttribute) << a.detail;
  Message m = reply(a);
  EXPECT_EQ(code_of(m), 420);
  const Attribute* unknown = m.find(attr::kUnknownAttributes);
  ASSERT_NE(unknown, nullptr);
  ASSERT_EQ(unknown->value.size(), 2u);  // ICE-CONTROLLED (0x8029) is optional: not listed
  EXPECT_EQ(unknown->value[0] << 8 | unknown->value[1], 0x0024);
  EXPECT_TRUE(check_integrity(m, bytes_of(vectors::kShortTermPassword), false));
  // The same request with a wrong password is refused before its attributes are looked at.
  s.users[0].password = "not-it";
  EXPECT_EQ(ask(s, req).outcome, Outcome::kUnauthorized);
}

TEST(StunBinding, MalformedRequestsGet400AndTheRestIsDropped) {
  ServerOptions s;
  auto req = binding([](Builder& b) { b.add_string(attr::kSoftware, "client"); });
  auto overrun = req;
  overrun[23] = 0xF0;  // SOFTWARE runs past the end: 400, same transaction
  Answer a = ask(s, overrun);
  EXPECT_EQ(a.outcome, Outcome::kBadRequest);
  EXPECT_EQ(reply(a).transaction, kTransaction);
  EXPECT_EQ(code_of(reply(a)), 400);
  auto truncated = std::vector<uint8_t>(req.begin(), req.end() - 4);  // the length field now lies
  EXPECT_EQ(ask(s, truncated).outcome, Outcome::kNotStun);
  EXPECT_TRUE(ask(s, truncated).bytes.empty());
  std::vector<uint8_t> junk(40, 0xAB);
  EXPECT_EQ(ask(s, junk).outcome, Outcome::kNotStun);
  auto fp = binding([](Builder& b) { b.add_fingerprint(); });
  fp.back() ^= 1;
  EXPECT_EQ(ask(s, fp).outcome, Outcome::kBadFingerprint);
  EXPECT_TRUE(ask(s, fp).bytes.empty());
  Builder indication(method::kBinding, Class::kIndication, kTransaction);
  EXPECT_EQ(ask(s, indication.bytes()).outcome, Outcome::kNotRequest);
  EXPECT_TRUE(ask(s, indication.bytes()).bytes.empty());
  Builder other(0x003, Class::kRequest, kTransaction);  // Allocate: not served (yet)
  EXPECT_EQ(code_of(reply(ask(s, other.bytes()))), 400);
}

TEST(StunBinding, Rfc5780AttributesWithoutAnotherAddressAre420) {
  ServerOptions s;
  auto req = binding([](Builder& b) { b.add_u32(attr::kChangeRequest, 0x06); });
  Answer a = ask(s, req);
  EXPECT_EQ(a.outcome, Outcome::kUnknownAttribute);
  EXPECT_EQ(code_of(reply(a)), 420);
}

TEST(StunBinding, Rfc5780ChangeRequestAndResponsePort) {
  ServerOptions s;
  s.primary = v4(1, 3478);
  s.other = v4(2, 3479);
  auto plain = binding();
  Answer first = ask(s, plain);  // named: the Message's views point into its bytes
  Message m = reply(first);
  EXPECT_EQ(*read_address(m.find(attr::kOtherAddress)->value), v4(2, 3479));
  EXPECT_EQ(*read_address(m.find(attr::kResponseOrigin)->value), v4(1, 3478));

  auto change = binding([](Builder& b) {
    b.add_u32(attr::kChangeRequest, 0x06);  // IP and port
    std::vector<uint8_t> port{0x9c, 0x41, 0, 0};  // 40001
    b.add(attr::kResponsePort, port);
  });
  Answer a = ask(s, change);
  ASSERT_EQ(a.outcome, Outcome::kSuccess) << a.detail;
  EXPECT_EQ(a.from, kOtherIp | kOtherPort);
  EXPECT_EQ(a.to, v4(9, 40001));
  m = reply(a);
  EXPECT_EQ(*read_address(m.find(attr::kResponseOrigin)->value), v4(2, 3479));

  // Received on A2:P1, asked to change the port only: from A2:P2; the other address is A1:P2.
  auto port_only = binding([](Builder& b) { b.add_u32(attr::kChangeRequest, 0x02); });
  a = ask(s, port_only, Transport::kUdp, kOtherIp);
  EXPECT_EQ(a.from, kOtherIp | kOtherPort);
  m = reply(a);
  EXPECT_EQ(*read_address(m.find(attr::kOtherAddress)->value), v4(1, 3479));

  // A TCP connection has one address: CHANGE-REQUEST cannot be honoured there.
  EXPECT_EQ(ask(s, change, Transport::kTcp).outcome, Outcome::kBadRequest);

  auto padded = binding([](Builder& b) { b.add(attr::kPadding, std::vector<uint8_t>(100, 0)); });
  Answer with_padding = ask(s, padded);
  m = reply(with_padding);
  ASSERT_TRUE(m.has(attr::kPadding));
  EXPECT_EQ(m.find(attr::kPadding)->value.size(), 100u);
}

}  // namespace
}  // namespace ugate::stun

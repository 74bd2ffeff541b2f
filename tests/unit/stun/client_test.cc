// The STUN/TURN client's sans-I/O parts: RFC 8489's retransmission schedule,
// Binding answers (from the server's own answer()), RFC 5780's mapping
// classification, and the TURN client's credentials dance against the
// TURN server's decisions (turn_fixture.h): 401 then signed, a wrong password,
// a stale nonce, a forged answer, data both ways.
#include "stun/client.h"

#include <gtest/gtest.h>

#include "stun/binding.h"
#include "stun/turn_auth.h"
#include "turn_fixture.h"

namespace ugate::stun {
namespace {

using namespace std::chrono_literals;
using turn_fixture::kClient;
using turn_fixture::kPeer;
using turn_fixture::kRelayIp;
using turn_fixture::v4;

TEST(StunTransaction, UdpRetransmitsAtRtoDoublingThenWaitsRmRto) {
  const auto t0 = ClientClock::now();
  Transaction t(binding_request(random_transaction()), false, RetransmitPolicy{}, t0);
  std::vector<long> sends{0};
  auto now = t0;
  for (int i = 0; i < 20; ++i) {
    now = t.deadline();
    EXPECT_EQ(t.on_timer(now - 1ms), Transaction::Tick::kWait);
    auto tick = t.on_timer(now);
    if (tick == Transaction::Tick::kTimedOut) break;
    ASSERT_EQ(tick, Transaction::Tick::kResend);
    sends.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(now - t0).count());
  }
  // RFC 8489 section 6.2.1's example: sent at 0, 500, 1500, 3500, 7500, 15500 and 31500 ms, failed at 39500.
  EXPECT_EQ(sends, (std::vector<long>{0, 500, 1500, 3500, 7500, 15500, 31500}));
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(now - t0).count(), 39500);
  EXPECT_EQ(t.sends(), 7);
}

TEST(StunTransaction, ReliableSendsOnceAndWaitsTheWholeSpan) {
  const auto t0 = ClientClock::now();
  Transaction t(binding_request(random_transaction()), true, RetransmitPolicy{}, t0);
  EXPECT_EQ(t.deadline() - t0, 39500ms);
  EXPECT_EQ(t.on_timer(t0 + 39499ms), Transaction::Tick::kWait);
  EXPECT_EQ(t.on_timer(t0 + 39500ms), Transaction::Tick::kTimedOut);
  EXPECT_EQ(t.sends(), 1);
}

TEST(StunTransaction, AnsweredOnlyByItsOwnTransactionAndMethod) {
  const TransactionId id = random_transaction();
  Transaction t(binding_request(id), false, RetransmitPolicy{}, ClientClock::now());
  EXPECT_EQ(t.id(), id);
  Builder ok(method::kBinding, Class::kSuccess, id);
  EXPECT_TRUE(t.answered_by(*parse(ok.bytes())));
  Builder other(method::kBinding, Class::kSuccess, random_transaction());
  EXPECT_FALSE(t.answered_by(*parse(other.bytes())));
  Builder allocate(method::kAllocate, Class::kSuccess, id);
  EXPECT_FALSE(t.answered_by(*parse(allocate.bytes())));
  Builder request(method::kBinding, Class::kRequest, id);
  EXPECT_FALSE(t.answered_by(*parse(request.bytes())));
}

TEST(StunTransaction, RandomIdsDiffer) { EXPECT_NE(random_transaction(), random_transaction()); }

// The server's own answer() to our requests, RFC 5780 on.
class Binding : public ::testing::Test {
 protected:
  Binding() {
    options.primary = v4(192, 0, 2, 1, 3478);
    options.other = v4(192, 0, 2, 2, 3479);
  }
  Answer ask(const std::vector<uint8_t>& request) {
    Received r;
    r.bytes = request;
    r.source = v4(203, 0, 113, 7, 40000);
    return answer(options, r);
  }
  ServerOptions options;
};

TEST_F(Binding, TheAnswerGivesTheMappedAndOtherAddress) {
  auto request = binding_request(random_transaction());
  ASSERT_TRUE(parse(request));
  EXPECT_TRUE(parse(request)->has(attr::kFingerprint));
  Answer a = ask(request);
  ASSERT_EQ(a.outcome, Outcome::kSuccess);
  auto m = parse(a.bytes);
  ASSERT_TRUE(m);
  auto b = read_binding_answer(*m);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->mapped, v4(203, 0, 113, 7, 40000));
  ASSERT_TRUE(b->other);
  EXPECT_EQ(*b->other, *options.other);
}

TEST_F(Binding, ChangeRequestIsAnsweredFromTheOtherAddress) {
  Answer a = ask(binding_request(random_transaction(), true, true));
  ASSERT_EQ(a.outcome, Outcome::kSuccess);
  EXPECT_EQ(a.from, kOtherIp | kOtherPort);
}

TEST_F(Binding, AnErrorOrAnAddresslessAnswerIsNoAnswer) {
  Builder error(method::kBinding, Class::kError, TransactionId{});
  error.add_error(400, "Bad Request");
  auto e = parse(error.bytes());
  EXPECT_EQ(read_binding_answer(*e).error(), ClientError::kErrorAnswer);
  EXPECT_EQ(read_error_code(*e)->code, 400);
  EXPECT_EQ(read_error_code(*e)->reason, "Bad Request");
  Builder empty(method::kBinding, Class::kSuccess, TransactionId{});
  EXPECT_EQ(read_binding_answer(*parse(empty.bytes())).error(), ClientError::kNoAddress);
}

TEST(StunMapping, Rfc5780Classification) {
  const Address a = v4(198, 51, 100, 1, 1000), b = v4(198, 51, 100, 1, 1001), c = v4(198, 51, 100, 1, 1002);
  EXPECT_EQ(classify_mapping(a, std::nullopt, std::nullopt), Mapping::kUnknown);
  EXPECT_EQ(classify_mapping(a, a, std::nullopt), Mapping::kEndpointIndependent);
  EXPECT_EQ(classify_mapping(a, b, b), Mapping::kAddressDependent);
  EXPECT_EQ(classify_mapping(a, b, c), Mapping::kAddressAndPortDependent);
  EXPECT_EQ(classify_mapping(a, b, std::nullopt), Mapping::kUnknown);
  EXPECT_EQ(to_string(Mapping::kAddressAndPortDependent), "address-and-port-dependent");
}

// The TURN client against the TURN server's decisions.
class TurnClientTest : public turn_fixture::Turn {
 protected:
  // Hands the client's request to the server and the server's one answer back to the client.
  TurnClient::Answer exchange(TurnClient& c, const std::vector<uint8_t>& request) {
    send(request);
    return c.on_answer(answer());
  }
  // The request, retried while the client says so (at most three times).
  TurnClient::Answer until_done(TurnClient& c, std::vector<uint8_t> request, int* retries = nullptr) {
    auto a = exchange(c, request);
    for (int i = 0; i < 3 && a.outcome == TurnClient::Outcome::kRetry; ++i) {
      if (retries) ++*retries;
      a = exchange(c, c.retry(random_transaction()));
    }
    return a;
  }
};

TEST_F(TurnClientTest, First401GivesRealmAndNonceThenTheSignedAllocateSucceeds) {
  TurnClient c({"alice", "pw"});
  auto first = exchange(c, c.allocate(random_transaction()));
  EXPECT_EQ(first.outcome, TurnClient::Outcome::kRetry);
  EXPECT_EQ(first.code, 401);
  EXPECT_EQ(c.realm(), "example.org");
  auto second = exchange(c, c.retry(random_transaction()));
  EXPECT_EQ(second.outcome, TurnClient::Outcome::kSuccess) << second.reason;
  ASSERT_TRUE(c.relayed());
  EXPECT_EQ(c.relayed()->ip, kRelayIp.ip);
  EXPECT_EQ(*c.mapped(), kClient.source);
  EXPECT_EQ(c.lifetime(), 600u);
  EXPECT_EQ(counters.allocations.get(), 1u);
}

TEST_F(TurnClientTest, WrongPasswordFailsAfterOneRetry) {
  TurnClient c({"alice", "not-it"});
  int retries = 0;
  auto a = until_done(c, c.allocate(random_transaction()), &retries);
  EXPECT_EQ(a.outcome, TurnClient::Outcome::kFailed);
  EXPECT_EQ(a.code, 401);
  EXPECT_EQ(retries, 1);
  EXPECT_EQ(counters.allocations.get(), 0u);
}

TEST_F(TurnClientTest, StaleNonceIsRetriedWithTheFreshOne) {
  TurnClient c({"alice", "pw"});
  ASSERT_EQ(until_done(c, c.allocate(random_transaction())).outcome, TurnClient::Outcome::kSuccess);
  now += 600'000;  // the server's nonce_lifetime
  auto first = exchange(c, c.refresh(random_transaction(), 300));
  EXPECT_EQ(first.outcome, TurnClient::Outcome::kRetry);
  EXPECT_EQ(first.code, 438);
  auto second = exchange(c, c.retry(random_transaction()));
  EXPECT_EQ(second.outcome, TurnClient::Outcome::kSuccess) << second.reason;
  EXPECT_EQ(c.lifetime(), 300u);
}

TEST_F(TurnClientTest, AnAnswerWithAWrongIntegrityIsRefused) {
  TurnClient c({"alice", "pw"});
  ASSERT_EQ(exchange(c, c.allocate(random_transaction())).outcome, TurnClient::Outcome::kRetry);
  send(c.retry(random_transaction()));
  Message m = answer();
  ASSERT_EQ(m.cls, Class::kSuccess);
  std::vector<uint8_t> forged = last;
  const Attribute* mi = m.find(attr::kMessageIntegrity);
  ASSERT_NE(mi, nullptr);
  forged[mi->offset + 4] ^= 1;
  auto a = c.on_answer(*parse(forged));
  EXPECT_EQ(a.outcome, TurnClient::Outcome::kFailed);
}

TEST_F(TurnClientTest, PermissionSendIndicationAndDataBack) {
  TurnClient c({"alice", "pw"});
  ASSERT_EQ(until_done(c, c.allocate(random_transaction())).outcome, TurnClient::Outcome::kSuccess);
  const Address peers[] = {kPeer};
  ASSERT_EQ(until_done(c, c.create_permission(random_transaction(), peers)).outcome, TurnClient::Outcome::kSuccess);
  const uint8_t hello[] = {'h', 'e', 'l', 'l', 'o'};
  send(c.send_indication(random_transaction(), kPeer, hello));
  ASSERT_EQ(to_peers.size(), 1u);
  EXPECT_EQ(to_peers[0].first, kPeer);
  EXPECT_EQ(to_peers[0].second, "hello");

  to_clients.clear();
  const uint8_t reply[] = {'h', 'i'};
  server->from_peer(1, kPeer, reply, now);
  auto data = read_data_indication(answer());
  ASSERT_TRUE(data);
  EXPECT_EQ(data->peer, kPeer);
  EXPECT_EQ(std::string(data->data.begin(), data->data.end()), "hi");
}

TEST_F(TurnClientTest, ChannelBindAndChannelData) {
  TurnClient c({"alice", "pw"});
  ASSERT_EQ(until_done(c, c.allocate(random_transaction())).outcome, TurnClient::Outcome::kSuccess);
  ASSERT_EQ(until_done(c, c.channel_bind(random_transaction(), 0x4001, kPeer)).outcome,
            TurnClient::Outcome::kSuccess);
  const uint8_t abc[] = {'a', 'b', 'c'};
  send(TurnClient::channel_data(0x4001, abc, false));
  ASSERT_EQ(to_peers.size(), 1u);
  EXPECT_EQ(to_peers[0].second, "abc");
  EXPECT_EQ(TurnClient::channel_data(0x4001, abc, true).size(), 8u);  // padded to 4 on streams
}

TEST_F(TurnClientTest, AnotherErrorFailsWithItsCode) {
  TurnClient c({"alice", "pw"});
  ASSERT_EQ(until_done(c, c.allocate(random_transaction())).outcome, TurnClient::Outcome::kSuccess);
  const Address loopback[] = {v4(127, 0, 0, 1, 9)};
  auto a = until_done(c, c.create_permission(random_transaction(), loopback));
  EXPECT_EQ(a.outcome, TurnClient::Outcome::kFailed);
  EXPECT_EQ(a.code, 403);
}

TEST(TurnRest, TheServerAcceptsTheCredentialsUntilTheyExpire) {
  TurnConfig config;
  config.realm = "example.org";
  config.auth_secret = "a-shared-secret";
  TurnAuth auth(config, std::vector<uint8_t>(16, 7));
  auto c = rest_credentials("a-shared-secret", "alice", 1000, 3600);
  EXPECT_EQ(c.username, "4600:alice");
  auto key = auth.key(c.username, 4599'000);
  ASSERT_TRUE(key);
  EXPECT_EQ(*key, long_term_key(c.username, "example.org", c.password));
  EXPECT_FALSE(auth.key(c.username, 4601'000));
  auto wrong = rest_credentials("another-secret", "alice", 1000, 3600);
  EXPECT_NE(*key, long_term_key(wrong.username, "example.org", wrong.password));
}

}  // namespace
}  // namespace ugate::stun

// The TURN server's decisions (sans-I/O), with fake relay sockets and a
// recording client: credentials, allocations, permissions, channels, quotas
// and each error code.
#include "stun/turn.h"

#include <gtest/gtest.h>

#include <map>

#include "turn_fixture.h"

namespace ugate::stun {
namespace {

using turn_fixture::kClient;
using turn_fixture::kPeer;
using turn_fixture::kRelayIp;
using turn_fixture::v4;
using Turn = turn_fixture::Turn;

TEST_F(Turn, ForTurnTellsTurnFromBinding) {
  Builder binding(method::kBinding, Class::kRequest, TransactionId{});
  EXPECT_FALSE(for_turn(binding.bytes()));
  EXPECT_TRUE(for_turn(allocate_request()));
  const uint8_t channel_data[] = {0x40, 0x00, 0x00, 0x00};
  EXPECT_TRUE(for_turn(channel_data));
}

TEST_F(Turn, AllocateAnswersTheRelayedAddressWithIntegrity) {
  allocate();
  Message m = *parse(last);
  auto relayed = read_xor_address(m.find(attr::kXorRelayedAddress)->value, m.transaction);
  ASSERT_TRUE(relayed);
  EXPECT_EQ(relayed->ip, kRelayIp.ip);
  EXPECT_EQ(*read_xor_address(m.find(attr::kXorMappedAddress)->value, m.transaction), kClient.source);
  const Attribute* lifetime = m.find(attr::kLifetime);
  EXPECT_EQ(lifetime->value[2] << 8 | lifetime->value[3], 600);
  EXPECT_TRUE(check_integrity(m, long_term_key("alice", "example.org", "pw"), false));
  EXPECT_EQ(counters.allocations.get(), 1u);
  EXPECT_EQ(refusals(Refusal::k401), 1u);
}

TEST_F(Turn, WrongPasswordIs401AndSoIsTheRetry) {
  challenge();
  send(allocate_request("alice", "nope"));
  EXPECT_EQ(code(answer()), 401);
  send(allocate_request("alice", "nope"));
  EXPECT_EQ(code(answer()), 401);
  send(allocate_request("mallory", "pw"));
  EXPECT_EQ(code(answer()), 401);
  EXPECT_EQ(refusals(Refusal::k401), 4u);
  EXPECT_EQ(counters.allocations.get(), 0u);
}

TEST_F(Turn, StaleNonceIs438WithAFreshOne) {
  challenge();
  now += 600'000;
  send(allocate_request());
  Message m = answer();
  EXPECT_EQ(code(m), 438);
  ASSERT_NE(m.find(attr::kNonce), nullptr);
  nonce.assign(m.find(attr::kNonce)->value.begin(), m.find(attr::kNonce)->value.end());
  send(allocate_request());
  EXPECT_EQ(answer().cls, Class::kSuccess);
}

TEST_F(Turn, MissingRealmOrNonceIs400) {
  challenge();
  TransactionId t{};
  Builder b(method::kAllocate, Class::kRequest, t);
  b.add_string(attr::kUsername, "alice");
  b.add_integrity(long_term_key("alice", "example.org", "pw"));
  send(b.take());
  EXPECT_EQ(code(answer()), 400);
}

TEST_F(Turn, SecondAllocateIs437ButARetransmissionIsAnswered) {
  allocate();
  auto again = allocate_request();
  send(again);
  EXPECT_EQ(code(answer()), 437);
  transactions = 0;  // the same transaction as the one that allocated
  send(allocate_request());
  EXPECT_EQ(answer().cls, Class::kSuccess);
  EXPECT_EQ(counters.allocations.get(), 1u);
}

TEST_F(Turn, TransportOtherThanUdpIs442AndUnknownAttributeIs420) {
  challenge();
  send(request(method::kAllocate, [](Builder& b) { b.add_u32(attr::kRequestedTransport, 6u << 24); }));
  EXPECT_EQ(code(answer()), 442);
  send(request(method::kAllocate, [](Builder& b) {
    b.add_u32(attr::kRequestedTransport, 17u << 24);
    b.add_u32(0x0031, 0);  // comprehension-required, unknown
  }));
  Message m = answer();
  EXPECT_EQ(code(m), 420);
  const Attribute* unknown = m.find(attr::kUnknownAttributes);
  ASSERT_NE(unknown, nullptr);
  EXPECT_EQ(unknown->value[0] << 8 | unknown->value[1], 0x0031);
  send(request(method::kAllocate));
  EXPECT_EQ(code(answer()), 400);  // no REQUESTED-TRANSPORT
}

TEST_F(Turn, QuotasPerUserAndInTotalAre486) {
  allocate();
  ClientKey second{Transport::kUdp, v4(192, 0, 2, 9, 40001)};
  send(allocate_request(), second);
  EXPECT_EQ(code(answer()), 486);  // alice's one
  send(allocate_request("bob", "pw2"), second);
  EXPECT_EQ(answer().cls, Class::kSuccess);
  ClientKey third{Transport::kUdp, v4(192, 0, 2, 9, 40002)};
  send(allocate_request("carol", "pw3"), third);
  EXPECT_EQ(code(answer()), 486);  // the total of 2
  EXPECT_EQ(refusals(Refusal::k486), 2u);
}

TEST_F(Turn, NoRelayPortIs508AndReleasesTheQuota) {
  ports_left = 0;
  challenge();
  send(allocate_request());
  EXPECT_EQ(code(answer()), 508);
  ports_left = 1;
  send(allocate_request());
  EXPECT_EQ(answer().cls, Class::kSuccess);
}

TEST_F(Turn, EvenPortIsHonouredButNotItsReservation) {
  challenge();
  send(request(method::kAllocate, [](Builder& b) {
    b.add_u32(attr::kRequestedTransport, 17u << 24);
    const uint8_t reserve[] = {0x80};
    b.add(attr::kEvenPort, reserve);
  }));
  EXPECT_EQ(code(answer()), 508);
  send(request(method::kAllocate, [](Builder& b) {
    b.add_u32(attr::kRequestedTransport, 17u << 24);
    const uint8_t plain[] = {0x00};
    b.add(attr::kEvenPort, plain);
  }));
  Message m = answer();
  ASSERT_EQ(m.cls, Class::kSuccess);
  EXPECT_EQ(read_xor_address(m.find(attr::kXorRelayedAddress)->value, m.transaction)->port % 2, 0);
}

TEST_F(Turn, OtherUserOnTheSameFiveTupleIs441) {
  allocate();
  send(request(method::kRefresh, {}, "bob", "pw2"));
  EXPECT_EQ(code(answer()), 441);
}

TEST_F(Turn, RequestsWithoutAllocationAre437) {
  challenge();
  send(request(method::kRefresh));
  EXPECT_EQ(code(answer()), 437);
  send(with_peer(method::kCreatePermission, kPeer));
  EXPECT_EQ(code(answer()), 437);
}

TEST_F(Turn, DeniedPeerIs403) {
  allocate();
  send(with_peer(method::kCreatePermission, v4(127, 0, 0, 1, 9)));
  EXPECT_EQ(code(answer()), 403);
  send(with_peer(method::kChannelBind, v4(10, 0, 0, 1, 9), 0x4000));
  EXPECT_EQ(code(answer()), 403);
  EXPECT_EQ(counters.permissions.get(), 0u);
}

TEST_F(Turn, SendNeedsAPermissionAndDataComesBack) {
  allocate();
  TransactionId t{};
  auto send_indication = [&] {
    Builder b(method::kSend, Class::kIndication, t);
    b.add_xor_address(attr::kXorPeerAddress, kPeer);
    b.add_string(attr::kData, "hello");
    return b.take();
  };
  EXPECT_EQ(send(send_indication()).kind, TurnResult::kDropped);
  EXPECT_TRUE(to_peers.empty());
  send(with_peer(method::kCreatePermission, kPeer));
  EXPECT_EQ(answer().cls, Class::kSuccess);
  EXPECT_EQ(send(send_indication()).kind, TurnResult::kRelayed);
  ASSERT_EQ(to_peers.size(), 1u);
  EXPECT_EQ(to_peers[0].first, kPeer);
  EXPECT_EQ(to_peers[0].second, "hello");

  to_clients.clear();
  const uint8_t reply[] = {'h', 'i'};
  server->from_peer(1, kPeer, reply, now);
  Message data = answer();
  EXPECT_EQ(data.method, method::kData);
  EXPECT_EQ(data.cls, Class::kIndication);
  EXPECT_EQ(*read_xor_address(data.find(attr::kXorPeerAddress)->value, data.transaction), kPeer);
  to_clients.clear();
  server->from_peer(1, v4(203, 0, 113, 6, 7000), reply, now);  // no permission for that one
  EXPECT_TRUE(to_clients.empty());
  EXPECT_EQ(counters.packets[static_cast<size_t>(Direction::kToPeer)].get(), 1u);
  EXPECT_EQ(counters.bytes[static_cast<size_t>(Direction::kToClient)].get(), 2u);
}

TEST_F(Turn, ChannelDataBothWaysAndTheConflictRules) {
  allocate();
  send(with_peer(method::kChannelBind, kPeer, 0x4001));
  EXPECT_EQ(answer().cls, Class::kSuccess);
  EXPECT_EQ(counters.channels.get(), 1u);
  EXPECT_EQ(counters.permissions.get(), 1u);
  send(with_peer(method::kChannelBind, v4(203, 0, 113, 6, 7000), 0x4001));
  EXPECT_EQ(code(answer()), 400);  // the number is taken
  send(with_peer(method::kChannelBind, kPeer, 0x4002));
  EXPECT_EQ(code(answer()), 400);  // the peer is bound to another number
  send(with_peer(method::kChannelBind, kPeer, 0x3000));
  EXPECT_EQ(code(answer()), 400);

  const std::vector<uint8_t> frame{0x40, 0x01, 0x00, 0x03, 'a', 'b', 'c', 0};
  EXPECT_EQ(send(frame).kind, TurnResult::kRelayed);
  ASSERT_EQ(to_peers.size(), 1u);
  EXPECT_EQ(to_peers[0].second, "abc");
  const std::vector<uint8_t> unbound{0x40, 0x02, 0x00, 0x01, 'a', 0, 0, 0};
  EXPECT_EQ(send(unbound).drop, TurnDrop::kNoChannel);
  const std::vector<uint8_t> truncated{0x40, 0x01, 0x00, 0x09, 'a'};
  EXPECT_EQ(send(truncated).drop, TurnDrop::kMalformed);

  to_clients.clear();
  const uint8_t reply[] = {'x', 'y'};
  server->from_peer(1, kPeer, reply, now);
  ASSERT_EQ(to_clients.size(), 1u);
  EXPECT_EQ(to_clients[0].second, (std::vector<uint8_t>{0x40, 0x01, 0x00, 0x02, 'x', 'y'}));
}

TEST_F(Turn, RefreshZeroDeletesAndExpiryEnds) {
  allocate();
  send(request(method::kRefresh, [](Builder& b) { b.add_u32(attr::kLifetime, 0); }));
  EXPECT_EQ(answer().cls, Class::kSuccess);
  EXPECT_EQ(counters.allocations.get(), 0u);
  EXPECT_EQ(server->find(kClient), nullptr);

  send(allocate_request());
  EXPECT_EQ(answer().cls, Class::kSuccess);
  send(with_peer(method::kChannelBind, kPeer, 0x4001));
  server->expire(now + 599'000);
  EXPECT_EQ(counters.allocations.get(), 1u);
  server->expire(now + 600'000);
  EXPECT_EQ(counters.allocations.get(), 0u);
  EXPECT_EQ(counters.channels.get(), 0u);
  EXPECT_EQ(counters.permissions.get(), 0u);
  // The quota came back.
  send(allocate_request());
  EXPECT_EQ(answer().cls, Class::kSuccess);
}

TEST_F(Turn, MalformedRequestIs400AndGarbageIsDropped) {
  std::vector<uint8_t> bad = allocate_request();
  bad[22] = 0x7F;  // the first attribute's length runs past the end
  EXPECT_EQ(send(bad).kind, TurnResult::kRefused);
  EXPECT_EQ(code(answer()), 400);
  const std::vector<uint8_t> garbage(30, 0xEE);
  EXPECT_EQ(send(garbage).drop, TurnDrop::kMalformed);
  EXPECT_TRUE(to_clients.empty());
}

TEST_F(Turn, BandwidthLimitDropsAndCounts) {
  config.bandwidth = 4;  // bytes/s
  allocate();
  send(with_peer(method::kChannelBind, kPeer, 0x4001));
  const std::vector<uint8_t> frame{0x40, 0x01, 0x00, 0x03, 'a', 'b', 'c', 0};
  EXPECT_EQ(send(frame).kind, TurnResult::kRelayed);
  EXPECT_EQ(send(frame).kind, TurnResult::kDropped);
  EXPECT_EQ(counters.drops[static_cast<size_t>(TurnDrop::kBandwidth)].get(), 1u);
}

}  // namespace
}  // namespace ugate::stun

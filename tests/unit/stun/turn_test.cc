// The TURN server's decisions (sans-I/O), with fake relay sockets and a
// recording client: credentials, allocations, permissions, channels, quotas
// and each error code.
#include "stun/turn.h"

#include <gtest/gtest.h>

#include <map>

namespace ugate::stun {
namespace {

Address v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  Address x;
  x.ip = {a, b, c, d};
  x.port = port;
  return x;
}

const Address kRelayIp = v4(198, 51, 100, 1, 0);
const Address kPeer = v4(203, 0, 113, 5, 7000);
const ClientKey kClient{Transport::kUdp, v4(192, 0, 2, 9, 40000)};

struct FakeRelay : RelaySocket {
  FakeRelay(uint16_t port, std::vector<std::pair<Address, std::string>>& sent) : port(port), sent(sent) {}
  Address address() const override {
    Address a = kRelayIp;
    a.port = port;
    return a;
  }
  bool send(const Address& peer, std::span<const uint8_t> bytes) override {
    sent.emplace_back(peer, std::string(bytes.begin(), bytes.end()));
    return true;
  }
  uint16_t port;
  std::vector<std::pair<Address, std::string>>& sent;
};

class Turn : public ::testing::Test {
 protected:
  Turn() {
    config.realm = "example.org";
    config.users = {{"alice", "pw"}, {"bob", "pw2"}, {"carol", "pw3"}};
    config.max_allocations_per_user = 1;
    config.max_allocations = 2;
    shared = std::make_unique<TurnShared>(config, kRelayIp, PeerPolicy({}, {}, {}), "test");
    server = std::make_unique<TurnServer>(
        *shared, counters,
        [this](uint64_t, bool even) -> std::unique_ptr<RelaySocket> {
          if (ports_left == 0) return nullptr;
          --ports_left;
          return std::make_unique<FakeRelay>(static_cast<uint16_t>(even ? 50000 : 50001), to_peers);
        },
        [this](const ClientKey& c, std::span<const uint8_t> b) {
          to_clients.emplace_back(c, std::vector<uint8_t>(b.begin(), b.end()));
          return true;
        });
  }

  // A request signed as `user` with the nonce the last 401 gave.
  std::vector<uint8_t> request(uint16_t method, const std::function<void(Builder&)>& more = {},
                               const std::string& user = "alice", const std::string& password = "pw") {
    TransactionId t{};
    t[0] = ++transactions;
    Builder b(method, Class::kRequest, t);
    if (more) more(b);
    b.add_string(attr::kUsername, user);
    b.add_string(attr::kRealm, "example.org");
    b.add_string(attr::kNonce, nonce);
    auto key = long_term_key(user, "example.org", password);
    b.add_integrity(key);
    return b.take();
  }
  TurnResult send(const std::vector<uint8_t>& bytes, const ClientKey& client = kClient) {
    to_clients.clear();
    return server->from_client(client, bytes, now, 0);
  }
  // The one answer to the last message.
  Message answer() {
    EXPECT_EQ(to_clients.size(), 1u);
    last = to_clients.empty() ? std::vector<uint8_t>{} : to_clients.back().second;
    auto m = parse(last);
    EXPECT_TRUE(m);
    return m ? *m : Message{};
  }
  int code(const Message& m) {
    const Attribute* e = m.find(attr::kErrorCode);
    return e ? e->value[2] * 100 + e->value[3] : 0;
  }
  void challenge() {
    Builder b(method::kAllocate, Class::kRequest, TransactionId{});
    b.add_u32(attr::kRequestedTransport, 17u << 24);
    send(b.take());
    Message m = answer();
    ASSERT_EQ(code(m), 401);
    const Attribute* n = m.find(attr::kNonce);
    ASSERT_NE(n, nullptr);
    nonce.assign(n->value.begin(), n->value.end());
  }
  std::vector<uint8_t> allocate_request(const std::string& user = "alice", const std::string& password = "pw") {
    return request(method::kAllocate, [](Builder& b) { b.add_u32(attr::kRequestedTransport, 17u << 24); }, user, password);
  }
  void allocate() {
    challenge();
    send(allocate_request());
    ASSERT_EQ(answer().cls, Class::kSuccess);
  }
  std::vector<uint8_t> with_peer(uint16_t method, const Address& peer, uint16_t channel = 0) {
    return request(method, [&](Builder& b) {
      if (channel) b.add_u32(attr::kChannelNumber, uint32_t{channel} << 16);
      b.add_xor_address(attr::kXorPeerAddress, peer);
    });
  }
  uint64_t refusals(Refusal r) const { return counters.refusals[static_cast<size_t>(r)].get(); }

  TurnConfig config;
  std::unique_ptr<TurnShared> shared;
  TurnCounters counters;
  std::unique_ptr<TurnServer> server;
  unsigned ports_left = 10;
  uint8_t transactions = 0;
  uint64_t now = 1'000'000;
  std::string nonce;
  std::vector<uint8_t> last;
  std::vector<std::pair<ClientKey, std::vector<uint8_t>>> to_clients;
  std::vector<std::pair<Address, std::string>> to_peers;
};

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

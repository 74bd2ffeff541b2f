#pragma once
// A TURN server with fake relay sockets and a recording client (sans-I/O),
// for the server's tests (turn_test.cc) and the client's (client_test.cc).
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "stun/turn.h"

namespace ugate::stun::turn_fixture {


inline Address v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
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

}  // namespace ugate::stun::turn_fixture

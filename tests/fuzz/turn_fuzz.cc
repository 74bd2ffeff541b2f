// libFuzzer target: the TURN server's decisions (RFC 8656) on any bytes. Each
// input gets a fresh server with one allocation already made, then goes in as
// a raw datagram (ChannelData, Send, malformed requests), as the attributes of
// a request the harness signs with a valid long-term key (so the fuzzer
// reaches Allocate, Refresh, CreatePermission and ChannelBind past the
// credential checks), and as a datagram from a peer. Every answer must parse
// and carry the request's transaction ID; the gauges must stay consistent.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "stun/turn.h"

namespace {

using namespace ugate::stun;
using ugate::TurnConfig;

struct NullRelay : RelaySocket {
  Address address() const override {
    Address a;
    a.ip = {198, 51, 100, 1};
    a.port = 50000;
    return a;
  }
  bool send(const Address&, std::span<const uint8_t>) override { return true; }
};

const TurnConfig& config() {
  static const TurnConfig c = [] {
    TurnConfig t;
    t.enabled = true;
    t.realm = "example.org";
    t.users = {{"alice", "pw"}};
    t.auth_secret = "0123456789abcdef";
    t.max_allocations_per_user = 2;
    t.bandwidth = 100000;
    return t;
  }();
  return c;
}

std::vector<uint8_t> signed_request(uint16_t method, const TransactionId& t, const std::string& nonce,
                                    std::span<const uint8_t> attributes) {
  Builder b(method, Class::kRequest, t);
  // The fuzzed bytes as attributes: type, length, value, until they run out.
  for (size_t at = 0; at + 4 <= attributes.size();) {
    uint16_t type = static_cast<uint16_t>(attributes[at] << 8 | attributes[at + 1]);
    size_t n = std::min<size_t>(attributes[at + 3], attributes.size() - at - 4);
    b.add(type, attributes.subspan(at + 4, n));
    at += 4 + n;
  }
  b.add_string(attr::kUsername, "alice");
  b.add_string(attr::kRealm, "example.org");
  b.add_string(attr::kNonce, nonce);
  b.add_integrity(long_term_key("alice", "example.org", "pw"));
  return b.take();
}

void check(const std::vector<uint8_t>& answer) {
  if (answer.size() >= 4 && (answer[0] & 0xC0) == 0x40) return;  // ChannelData to the client
  if (!parse(answer)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static TurnShared shared(config(), [] {
    Address a;
    a.ip = {198, 51, 100, 1};
    return a;
  }(), PeerPolicy({}, {}, {}), "fuzz");
  TurnCounters counters;
  std::vector<std::vector<uint8_t>> answers;
  uint64_t now = 1'000'000;
  {
    TurnServer server(
        shared, counters, [](uint64_t, bool) { return std::make_unique<NullRelay>(); },
        [&](const ClientKey&, std::span<const uint8_t> b) {
          answers.emplace_back(b.begin(), b.end());
          return true;
        });
    ClientKey client{Transport::kUdp, {}};
    client.source.ip = {192, 0, 2, 1};
    client.source.port = 40000;
    const std::string nonce = shared.auth.make_nonce(now);
    const uint8_t udp[] = {0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0};
    TransactionId t{1};
    (void)server.from_client(client, signed_request(method::kAllocate, t, nonce, udp), now, 0);
    // XOR-PEER-ADDRESS 203.0.113.5:0x3A4A (port ^ 0x2112, address ^ the cookie)
    const uint8_t peer_attrs[] = {0x00, 0x12, 0x00, 0x08, 0, 1, 0x1B, 0x58, 0xEA, 0x12, 0xD5, 0x47};
    t[0] = 2;
    (void)server.from_client(client, signed_request(method::kCreatePermission, t, nonce, peer_attrs), now, 0);

    std::span<const uint8_t> in(data, size);
    (void)server.from_client(client, in, now, 0);
    if (size >= 2) {
      static constexpr uint16_t kMethods[] = {method::kAllocate, method::kRefresh, method::kCreatePermission,
                                              method::kChannelBind};
      t[0] = 3;
      (void)server.from_client(client, signed_request(kMethods[data[0] & 3], t, nonce, in.subspan(1)), now, 0);
      (void)server.from_client(client, in, now + 1, 0);  // ChannelData after a possible ChannelBind
    }
    Address peer;
    peer.ip = {203, 0, 113, 5};
    peer.port = 0x3A4A;
    server.from_peer(1, peer, in, now);
    server.expire(now + (size % 4) * 400'000);
  }
  for (const auto& a : answers) check(a);
  if (counters.allocations.get() != 0 || counters.permissions.get() != 0 || counters.channels.get() != 0)
    __builtin_trap();  // the server's end took them all away
  return 0;
}

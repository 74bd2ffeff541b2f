#pragma once
// The TURN server (RFC 8656) of one listener on one worker: its allocations,
// keyed by the client's 5-tuple, and what each message does to them. A
// client's 5-tuple lands on one worker (SO_REUSEPORT hashes it; a TCP
// connection is on one), and so do its relay sockets, so nothing here is
// locked but the quotas shared by the workers (taken only on Allocate).
// Sockets are behind callbacks: the unit tests drive it with fakes.
#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/stats.h"
#include "listener/turn_config.h"
#include "stun/allocation.h"
#include "stun/turn_auth.h"
#include "stun/turn_peers.h"

namespace ugate::stun {

// The error codes TURN answers with, counted by code.
enum class Refusal : uint8_t { k400, k401, k403, k420, k437, k438, k440, k441, k442, k443, k486, k508, kCount };
int code_of(Refusal r);

// Why a datagram was not relayed (or a message not answered).
enum class TurnDrop : uint8_t {
  kMalformed,     // not STUN, truncated ChannelData, bad FINGERPRINT, an answer or unknown indication
  kNoAllocation,  // Send or ChannelData from a 5-tuple without an allocation
  kNoPermission,  // to or from a peer without a permission
  kNoChannel,     // ChannelData on a channel not bound
  kBandwidth,     // over the allocation's bandwidth
  kSendFailed,    // the socket refused it
  kCount
};
std::string_view to_string(TurnDrop d);

enum class Direction : uint8_t { kToPeer, kToClient, kCount };

// One worker's TURN counts for one listener (gauges move up and down).
struct TurnCounters {
  Counter allocations, permissions, channels;
  std::array<Counter, static_cast<size_t>(Direction::kCount)> bytes, packets;
  std::array<Counter, static_cast<size_t>(Refusal::kCount)> refusals;
  std::array<Counter, static_cast<size_t>(TurnDrop::kCount)> drops;
};

// What the workers share: the options, the credentials, and the quotas.
class TurnShared {
 public:
  TurnShared(const TurnConfig& c, Address relay_ip, PeerPolicy peers, std::string software);
  const TurnConfig& config;
  const TurnAuth auth;
  const PeerPolicy peers;
  const Address relay_ip;
  const std::string software;

  // One more allocation for `user`, if neither quota is reached.
  bool reserve(const std::string& user);
  void release(const std::string& user);

 private:
  std::mutex mutex_;
  uint32_t total_ = 0;
  std::unordered_map<std::string, uint32_t> per_user_;
};

// Whether a datagram or frame is TURN's (ChannelData, or a STUN message of
// another method than Binding) rather than the Binding server's.
bool for_turn(std::span<const uint8_t> bytes);

struct TurnResult {
  enum Kind : uint8_t { kAnswered, kRefused, kRelayed, kDropped } kind = kDropped;
  Refusal refusal = Refusal::k400;
  TurnDrop drop = TurnDrop::kMalformed;
  std::string detail;  // for the log
};

class TurnServer {
 public:
  // Opens a relay socket for allocation `id` (on an even port when `even`,
  // for EVEN-PORT); nullptr when no port is free (508).
  using OpenRelay = std::function<std::unique_ptr<RelaySocket>(uint64_t id, bool even)>;
  using ToClient = std::function<bool(const ClientKey&, std::span<const uint8_t>)>;

  TurnServer(TurnShared& shared, TurnCounters& counters, OpenRelay open_relay, ToClient to_client);
  ~TurnServer();
  TurnServer(const TurnServer&) = delete;
  TurnServer& operator=(const TurnServer&) = delete;

  // A message or ChannelData from a client. `now_ms` is monotonic, `wall_ms`
  // Unix time (REST usernames expire in it).
  TurnResult from_client(const ClientKey& client, std::span<const uint8_t> bytes, uint64_t now_ms, uint64_t wall_ms);
  // A datagram that allocation `id`'s relay received from `peer`.
  void from_peer(uint64_t id, const Address& peer, std::span<const uint8_t> bytes, uint64_t now_ms);
  // Ends expired allocations, permissions and channels.
  void expire(uint64_t now_ms);
  // The client is gone (its TCP connection closed): so is its allocation.
  void remove(const ClientKey& client);
  void clear();
  const Allocation* find(const ClientKey& client) const;

 private:
  struct Request;
  TurnResult channel_data(const ClientKey& client, std::span<const uint8_t> bytes, uint64_t now_ms);
  TurnResult send_indication(const ClientKey& client, const Message& m, uint64_t now_ms);
  TurnResult request(const ClientKey& client, const Message& m, uint64_t now_ms, uint64_t wall_ms);
  TurnResult allocate(Request& r);
  TurnResult refresh(Request& r);
  TurnResult create_permission(Request& r);
  TurnResult channel_bind(Request& r);
  TurnResult refuse(Request& r, Refusal code, std::string detail, std::span<const uint16_t> unknown = {});
  TurnResult challenge(const ClientKey& client, const Message& m, Refusal code, std::string detail, uint64_t now_ms);
  TurnResult succeed(Request& r, const std::function<void(Builder&)>& attributes = {});
  TurnResult dropped(TurnDrop d, std::string detail);
  TurnResult relay_to_peer(Allocation& a, const Address& peer, std::span<const uint8_t> bytes, uint64_t now_ms);
  void erase(Allocation& a);
  uint32_t lifetime_s(const Message& m, bool allocate) const;

  TurnShared& shared_;
  TurnCounters& counters_;
  OpenRelay open_relay_;
  ToClient to_client_;
  uint64_t next_id_ = 1;
  uint64_t indications_ = 0;
  std::unordered_map<ClientKey, std::unique_ptr<Allocation>, ClientKeyHash> by_client_;
  std::unordered_map<uint64_t, Allocation*> by_id_;
};

}  // namespace ugate::stun

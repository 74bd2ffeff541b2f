#pragma once
// One TURN allocation (RFC 8656 section 2.2): the client's 5-tuple, the
// relayed transport address, its permissions (section 9) and channels
// (section 12), and the rules between them. Pure data and rules; the relay
// socket is behind RelaySocket, so the rules are tested without sockets.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "stun/binding.h"
#include "stun/turn_auth.h"

namespace ugate::stun {

// The client side of the 5-tuple (the server side is the listener's socket).
struct ClientKey {
  Transport transport = Transport::kUdp;
  Address source;
  bool operator==(const ClientKey&) const = default;
};
struct ClientKeyHash {
  size_t operator()(const ClientKey& k) const;
};

// The relayed transport address: a socket that sends to peers (and whose
// owner hands what it receives to TurnServer::from_peer).
class RelaySocket {
 public:
  virtual ~RelaySocket() = default;
  virtual Address address() const = 0;
  virtual bool send(const Address& peer, std::span<const uint8_t> bytes) = 0;
};

// bytes/s with a burst of one second; rate 0 lets everything through.
class TokenBucket {
 public:
  explicit TokenBucket(uint64_t rate = 0) : rate_(rate), tokens_(rate) {}
  bool take(size_t n, uint64_t now_ms);

 private:
  uint64_t rate_;
  uint64_t tokens_;
  uint64_t last_ms_ = 0;
};

// RFC 8656 section 12 narrowed the channel numbers to 0x4000-0x4FFF; RFC 5766's
// 0x4000-0x7FFF are still taken, as coturn takes them, because its clients
// (turnutils_uclient among them) pick from the whole old range.
inline constexpr uint16_t kFirstChannel = 0x4000, kLastChannel = 0x7FFF;
inline constexpr uint64_t kPermissionLifetimeMs = 300'000;                 // section 9
inline constexpr uint64_t kChannelLifetimeMs = 600'000;                    // section 12
// What one allocation may hold (refused with 508 beyond): its memory, and the lists every relayed
// packet searches, stay small whatever its client asks. Entries count until the sweep drops them.
inline constexpr size_t kMaxPermissions = 64;
inline constexpr size_t kMaxChannels = 64;

struct Permission {
  Address ip;  // port 0: a permission is for an IP address, any port
  uint64_t expires_ms;
};
struct Channel {
  uint16_t number;
  Address peer;
  uint64_t expires_ms;
};

enum class BindCheck : uint8_t { kOk, kBadNumber, kNumberTaken, kPeerTaken };

struct Allocation {
  uint64_t id = 0;
  ClientKey client;
  std::string username;
  LongTermKey key{};
  TransactionId transaction{};  // of the Allocate: a retransmission gets the same answer
  uint64_t lifetime_s = 0;      // as last granted
  uint64_t expires_ms = 0;
  std::unique_ptr<RelaySocket> relay;
  std::vector<Permission> permissions;
  std::vector<Channel> channels;
  TokenBucket to_peer, to_client;

  bool permitted(const Address& peer, uint64_t now_ms) const;
  // Installs or refreshes the permission for the peer's IP; true when new.
  bool permit(const Address& peer, uint64_t now_ms);
  // Whether permit(peer) would add an entry rather than renew one.
  bool new_permission(const Address& peer) const;
  const Channel* channel(uint16_t number, uint64_t now_ms) const;
  const Channel* channel_to(const Address& peer, uint64_t now_ms) const;
  // A number outside kFirstChannel-kLastChannel, a number bound to another peer, or a
  // peer bound to another number are refused (400, section 11.2).
  BindCheck can_bind(uint16_t number, const Address& peer, uint64_t now_ms) const;
  // Binds (or refreshes) after can_bind said kOk; true when new.
  bool bind(uint16_t number, const Address& peer, uint64_t now_ms);
  // Drops expired permissions and channels; how many of each went.
  std::pair<size_t, size_t> expire(uint64_t now_ms);
};

Address ip_only(Address a);

}  // namespace ugate::stun

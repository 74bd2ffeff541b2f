#pragma once
// TURN's long-term credentials (RFC 8489 section 9.2), sans-I/O: the NONCE
// the server hands out and later recognises (stateless: the time it was made
// and an HMAC of it with a secret of this process), the key of a user from
// the users list, and coturn's REST scheme (`use-auth-secret`: the username
// is "expiry:name", the password base64(HMAC-SHA1(secret, username))).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "listener/turn_config.h"

namespace ugate::stun {

using LongTermKey = std::array<uint8_t, 16>;

enum class NonceState : uint8_t { kValid, kStale, kInvalid };

class TurnAuth {
 public:
  // `nonce_secret`: random bytes; nonces made with another secret are invalid.
  TurnAuth(const TurnConfig& c, std::vector<uint8_t> nonce_secret);

  const std::string& realm() const { return realm_; }
  std::string make_nonce(uint64_t now_ms) const;
  NonceState check_nonce(std::string_view nonce, uint64_t now_ms) const;
  // The key of `username` (a listed user, or a REST name not yet expired at
  // `now_ms`, wall-clock); nullopt: unknown or expired (401).
  std::optional<LongTermKey> key(std::string_view username, uint64_t wall_now_ms) const;

 private:
  std::string realm_;
  std::unordered_map<std::string, LongTermKey> keys_;  // listed users; the passwords are not kept
  std::string secret_;
  std::vector<uint8_t> nonce_secret_;
  uint64_t nonce_lifetime_ms_;
};

// The REST scheme's password for `username`, as a client computes it.
std::string rest_password(std::string_view secret, std::string_view username);
// The expiry (Unix seconds) a REST username starts with; nullopt when it has none.
std::optional<uint64_t> rest_expiry(std::string_view username);

}  // namespace ugate::stun

#pragma once
// A stun listener's `turn:` section (RFC 8656): what its TURN server relays,
// for whom, and within which limits. The config reader fills it; src/stun/
// acts on it. Defaults follow coturn's where it has one.
#include <cstdint>
#include <string>
#include <vector>

#include "base/cidr.h"
#include "base/duration.h"

namespace ugate {

// A long-term credential (RFC 8489 section 9.2): name and password.
struct TurnUser {
  std::string name;
  std::string password;
};

struct TurnConfig {
  bool enabled = false;           // no `turn:` section: the listener answers Binding only
  std::string realm;              // REALM, part of every long-term key
  std::vector<TurnUser> users;    // `users:` and the lines of `users_file:`
  std::string users_file;         // where some came from (for `ugate check`)
  std::string auth_secret;        // coturn's use-auth-secret (REST); empty: none
  std::string relay_address;      // the IP relays bind; empty: the listener's
  uint16_t relay_port_min = 49152;
  uint16_t relay_port_max = 65535;
  uint32_t max_allocations = 10'000;         // in total, all users (486 beyond)
  uint32_t max_allocations_per_user = 100;   // per username (486 beyond)
  Duration default_lifetime{600'000};        // an Allocate without LIFETIME
  Duration max_lifetime{3'600'000};          // the most a LIFETIME may ask
  Duration nonce_lifetime{600'000};          // a NONCE older than this is stale (438)
  uint64_t bandwidth = 0;                    // bytes/s per allocation, each way; 0: unlimited
  std::vector<Cidr> allow_peers;             // relayed to even if denied below
  std::vector<Cidr> deny_peers;              // besides loopback, private, link-local and our own (403)
};

}  // namespace ugate

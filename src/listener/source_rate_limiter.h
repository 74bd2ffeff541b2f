#pragma once
// New connections per second from one source address (a listener's
// `source_rate_limit`), lock-free and in constant memory, so a flood from
// many addresses cannot grow it. IPv4 addresses count alone, IPv6 ones by
// their /64 (one host's share of a network); an IPv4-mapped address is its
// IPv4 address.
//
// Each address has a slot in each of two rows (keyed hashes with a random
// seed, so clients cannot pick addresses that share a victim's slots); a slot
// holds a GCRA "theoretical arrival time": one atomic word, no refill timer.
// A connection is refused only when every slot of its address is out of
// tokens, and an admitted one takes a token from each: as in a count-min
// sketch, an address can be refused early only if both of its slots are
// shared with addresses that used them up, never admitted beyond its rate
// (but for the few that workers admit at the same instant).
#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <memory>

namespace ugate {

class SourceRateLimiter {
 public:
  // `per_second` connections per second on average, up to `burst` at once (both >= 1).
  SourceRateLimiter(uint32_t per_second, uint32_t burst, uint64_t seed);

  // Whether one more connection from `source` fits at `now_us` (a monotonic
  // clock in microseconds); its token is taken when it does.
  bool take(const boost::asio::ip::address& source, uint64_t now_us);

  static constexpr size_t kSlotsPerRow = 8192;  // 2 rows x 8 bytes: 128 KiB per limited listener

 private:
  uint64_t interval_us_;   // between two connections at the average rate
  uint64_t tolerance_us_;  // how far ahead of now a slot may run: (burst - 1) intervals
  uint64_t seed_[2];
  std::unique_ptr<std::atomic<uint64_t>[]> arrival_;  // row r, slot i at r * kSlotsPerRow + i
};

// Microseconds of the monotonic clock, the time take() wants.
uint64_t monotonic_us();

}  // namespace ugate

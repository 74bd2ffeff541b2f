#include "listener/source_rate_limiter.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace ugate {
namespace {

uint64_t mix(uint64_t x) {  // splitmix64's finalizer: every input bit reaches every output bit
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The address as the limiter counts it: IPv4 (also mapped) alone, IPv6 by its /64.
uint64_t key_of(const boost::asio::ip::address& a) {
  if (a.is_v4()) return a.to_v4().to_uint();
  const auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_uint();
  const auto bytes = v6.to_bytes();
  uint64_t prefix;
  std::memcpy(&prefix, bytes.data(), sizeof prefix);
  return mix(prefix) | 1ULL << 63;  // never an IPv4 key (those are below 2^32)
}

}  // namespace

SourceRateLimiter::SourceRateLimiter(uint32_t per_second, uint32_t burst, uint64_t seed)
    : interval_us_(1'000'000 / std::max<uint32_t>(per_second, 1)),
      tolerance_us_(interval_us_ * (std::max<uint32_t>(burst, 1) - 1)),
      seed_{mix(seed), mix(seed ^ 0x9e3779b97f4a7c15ULL)},
      arrival_(new std::atomic<uint64_t>[2 * kSlotsPerRow]()) {}

bool SourceRateLimiter::take(const boost::asio::ip::address& source, uint64_t now_us) {
  const uint64_t key = key_of(source);
  std::atomic<uint64_t>* slot[2];
  for (int row = 0; row < 2; ++row)
    slot[row] = &arrival_[row * kSlotsPerRow + (mix(key ^ seed_[row]) & (kSlotsPerRow - 1))];
  bool room = false;  // in any slot: the address's own use is in all of them
  for (auto* s : slot) room |= s->load(std::memory_order_relaxed) <= now_us + tolerance_us_;
  if (!room) return false;
  for (auto* s : slot) {
    uint64_t seen = s->load(std::memory_order_relaxed);
    while (!s->compare_exchange_weak(seen, std::max(seen, now_us) + interval_us_, std::memory_order_relaxed)) {
    }
  }
  return true;
}

uint64_t monotonic_us() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

}  // namespace ugate

#pragma once
// Forwarded answers by question, while their TTL lasts (RFC 1035 and, for
// negative answers, RFC 2308's SOA minimum). A cached answer costs a look-up
// and a copy into the caller's buffer (the key is built in a buffer the cache
// keeps). `Cache` is one thread's; `SharedCache` is the listener's, for all
// its workers (a client's next query may land on another one), in shards
// that each have a lock.
#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "dns/message.h"

namespace ugate::dns {

// The largest answer kept: a bound on the cache's bytes (max_entries times this).
inline constexpr size_t kMaxCachedAnswer = 4096;

class Cache {
 public:
  explicit Cache(size_t max_entries, uint32_t max_ttl) : max_entries_(max_entries), max_ttl_(max_ttl) {}

  // Keeps `answer` (an upstream's, already parsed into `info`) for `q` at
  // time `now` (seconds): for its lowest TTL, or a negative answer's SOA
  // minimum; not at all when neither says (or says 0), when it is truncated,
  // or a SERVFAIL.
  void store(const Query& q, std::span<const uint8_t> answer, const ResponseInfo& info, uint64_t now);
  // The answer to `q` (read from `query_msg`) into `out` with the query's ID
  // and question (its case: a client may check it) and every TTL lowered by
  // its age; false when none is fresh.
  bool find(std::span<const uint8_t> query_msg, const Query& q, uint64_t now, std::vector<uint8_t>& out);
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::vector<uint8_t> answer;
    std::vector<uint16_t> ttl_offsets;
    size_t question_end = 0;
    uint64_t stored = 0, expires = 0;
  };
  const std::string& key_of(const Query& q);

  size_t max_entries_;
  uint32_t max_ttl_;
  std::string key_;  // reused: a look-up allocates nothing once it has grown
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::string> order_;  // oldest first: the first to go when full
};

class SharedCache {
 public:
  SharedCache(size_t max_entries, uint32_t max_ttl);
  void store(const Query& q, std::span<const uint8_t> answer, const ResponseInfo& info, uint64_t now);
  bool find(std::span<const uint8_t> query_msg, const Query& q, uint64_t now, std::vector<uint8_t>& out);
  size_t size() const;

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    Shard(size_t n, uint32_t ttl) : cache(n, ttl) {}
    mutable std::mutex mutex;
    Cache cache;
  };
  Shard& shard(const Query& q) const;
  std::array<std::unique_ptr<Shard>, kShards> shards_;
};

}  // namespace ugate::dns

#include "dns/cache.h"

#include <algorithm>

namespace ugate::dns {

// The question and whether DNSSEC records were asked for (DO): answers differ by each.
const std::string& Cache::key_of(const Query& q) {
  key_.assign(q.name.bytes());
  key_.push_back(static_cast<char>(q.type >> 8));
  key_.push_back(static_cast<char>(q.type));
  key_.push_back(static_cast<char>(q.klass >> 8));
  key_.push_back(static_cast<char>(q.klass));
  // Whether the query had EDNS0 (and DO): an answer carries an OPT record
  // only for a query that had one (RFC 6891 7), so each kind has its own.
  key_.push_back(!q.edns ? 0 : q.edns->dnssec_ok ? 2 : 1);
  return key_;
}

void Cache::store(const Query& q, std::span<const uint8_t> answer, const ResponseInfo& info, uint64_t now) {
  // Bounded in bytes too, not only in entries: a client asking for names of a zone it controls
  // could otherwise fill max_entries with 64 KiB answers. Larger answers are asked for each time.
  if (max_entries_ == 0 || info.header.tc() || answer.size() > kMaxCachedAnswer) return;
  uint8_t rcode = info.header.rcode();
  if (rcode != kNoError && rcode != kNxDomain) return;
  // Only an answer to the question asked (an upstream could answer another).
  if (info.name.bytes() != q.name.bytes() || info.type != q.type || info.klass != q.klass) return;
  std::optional<uint32_t> ttl;
  if (rcode == kNoError && info.header.ancount > 0) ttl = info.min_ttl;
  else ttl = info.soa_minimum;  // NXDOMAIN, or no data: RFC 2308
  if (!ttl || *ttl == 0) return;
  const std::string& key = key_of(q);
  auto [it, added] = entries_.try_emplace(key);
  if (added) {
    order_.push_back(key);
    while (entries_.size() > max_entries_) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
    it = entries_.find(key_);
  }
  Entry& e = it->second;
  e.answer.assign(answer.begin(), answer.end());
  e.ttl_offsets = info.ttl_offsets;
  e.question_end = info.question_end;
  e.stored = now;
  e.expires = now + std::min(*ttl, max_ttl_);
}

bool Cache::find(std::span<const uint8_t> query_msg, const Query& q, uint64_t now, std::vector<uint8_t>& out) {
  auto it = entries_.find(key_of(q));
  if (it == entries_.end()) return false;
  const Entry& e = it->second;
  if (now >= e.expires) return false;  // stale; replaced when the new answer comes
  out.assign(e.answer.begin(), e.answer.end());
  put16(out.data(), q.header.id);
  if (e.question_end == q.question_end)
    std::copy(query_msg.begin() + kHeaderSize, query_msg.begin() + static_cast<std::ptrdiff_t>(q.question_end),
              out.begin() + kHeaderSize);
  auto age = static_cast<uint32_t>(now - e.stored);
  for (uint16_t at : e.ttl_offsets) {
    uint32_t ttl = get32(out, at);
    put32(out.data() + at, ttl > age ? ttl - age : 0);
  }
  return true;
}

SharedCache::SharedCache(size_t max_entries, uint32_t max_ttl) {
  // Each shard a share of the bound (at least one entry, unless caching is off).
  size_t each = max_entries == 0 ? 0 : std::max<size_t>(1, max_entries / kShards);
  for (auto& s : shards_) s = std::make_unique<Shard>(each, max_ttl);
}

SharedCache::Shard& SharedCache::shard(const Query& q) const {
  size_t h = std::hash<std::string_view>{}(q.name.bytes()) ^ q.type;
  return *shards_[h % kShards];
}

void SharedCache::store(const Query& q, std::span<const uint8_t> answer, const ResponseInfo& info, uint64_t now) {
  Shard& s = shard(q);
  std::lock_guard lock(s.mutex);
  s.cache.store(q, answer, info, now);
}

bool SharedCache::find(std::span<const uint8_t> query_msg, const Query& q, uint64_t now, std::vector<uint8_t>& out) {
  Shard& s = shard(q);
  std::lock_guard lock(s.mutex);
  return s.cache.find(query_msg, q, now, out);
}

size_t SharedCache::size() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mutex);
    n += s->cache.size();
  }
  return n;
}

}  // namespace ugate::dns

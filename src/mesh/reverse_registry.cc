#include "mesh/reverse_registry.h"

#include <nlohmann/json.hpp>

#include "identity/cert.h"

namespace ugate {

uint64_t ReverseRegistry::add(Entry e) {
  std::lock_guard lock(mu_);
  e.serial = next_++;
  e.since = std::chrono::system_clock::now();
  entries_.push_back(std::move(e));
  count_.store(entries_.size(), std::memory_order_relaxed);
  return entries_.back().serial;
}

void ReverseRegistry::remove(uint64_t serial) {
  std::lock_guard lock(mu_);
  std::erase_if(entries_, [serial](const Entry& e) { return e.serial == serial; });
  count_.store(entries_.size(), std::memory_order_relaxed);
}

std::optional<ReverseRegistry::Entry> ReverseRegistry::find(std::string_view key) const {
  std::lock_guard lock(mu_);
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {  // newest first
    if (it->node_id == key || it->spiffe_id == key || it->name == key) return *it;
  }
  return std::nullopt;
}

nlohmann::json ReverseRegistry::describe() const {
  std::lock_guard lock(mu_);
  nlohmann::json out = nlohmann::json::array();
  for (const Entry& e : entries_) {
    out.push_back({{"name", e.name},
                   {"node_id", e.node_id},
                   {"spiffe_id", e.spiffe_id},
                   {"peer", format_endpoint(e.peer)},
                   {"since", format_utc(e.since)}});
  }
  return out;
}

}  // namespace ugate

#include "webpush/seen_messages.h"

#include <nlohmann/json.hpp>

#include "webpush/node_envelope.h"

namespace ugate::webpush {

bool SeenMessages::first_time(std::string_view from, std::string_view id, int64_t expires_ms, int64_t now_ms) {
  std::string key = std::string(from) + " " + std::string(id);
  if (seen_.contains(key)) return false;
  forget_expired(now_ms);
  if (seen_.size() >= kMaxEntries) return false;
  seen_.emplace(std::move(key), expires_ms + kEnvelopeClockSkewMs);
  return true;
}

void SeenMessages::forget_expired(int64_t now_ms) {
  std::erase_if(seen_, [now_ms](const auto& e) { return e.second < now_ms; });
}

nlohmann::json SeenMessages::to_json() const { return nlohmann::json(seen_); }

SeenMessages SeenMessages::from_json(const nlohmann::json& j, int64_t now_ms) {
  SeenMessages s;
  if (!j.is_object()) return s;
  for (const auto& [key, until] : j.items())
    if (until.is_number_integer() && until.get<int64_t>() >= now_ms && s.seen_.size() < kMaxEntries)
      s.seen_.emplace(key, until.get<int64_t>());
  return s;
}

}  // namespace ugate::webpush

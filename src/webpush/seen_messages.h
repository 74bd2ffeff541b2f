#pragma once
// Replay protection for signed node messages (node_envelope.h): the
// receiver keeps the (sender, message ID) of each message it took until
// that message's signed expiry (plus the clock skew) has passed; after that
// the envelope is refused as expired anyway. So a gateway that delivers a
// message again, now or after the receiver restarts (the CLI keeps the set
// in STATE_DIR/push-seen.json), is caught.
#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace ugate::webpush {

class SeenMessages {
 public:
  // At most this many remembered: a full set refuses new messages
  // (a burst of long-lived ones) rather than forget and accept a replay.
  static constexpr size_t kMaxEntries = 100000;

  // Records the message. False when it was seen already (a replay) or the set is full.
  bool first_time(std::string_view from, std::string_view id, int64_t expires_ms, int64_t now_ms);
  size_t size() const { return seen_.size(); }

  // {"FROM ID": expires_ms}; entries past their time are dropped on load.
  nlohmann::json to_json() const;
  static SeenMessages from_json(const nlohmann::json& j, int64_t now_ms);

 private:
  void forget_expired(int64_t now_ms);
  std::map<std::string, int64_t> seen_;  // "from id" -> when it may be forgotten
};

}  // namespace ugate::webpush

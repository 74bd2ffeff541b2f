#pragma once
// Durations in config: "250ms", "5s", "2m", "1h"; a bare number means seconds.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ugate {

using Duration = std::chrono::milliseconds;

std::optional<Duration> parse_duration(std::string_view text);
std::string format_duration(Duration d);  // the shortest exact form: "1h", "1500ms"
// Whole seconds, rounded up (the HTTP/2 timers tick once a second).
inline uint32_t whole_seconds(Duration d) {
  return static_cast<uint32_t>(std::chrono::ceil<std::chrono::seconds>(d).count());
}

}  // namespace ugate

#pragma once
// How the status page and `ugate status` write the numbers of /debug/status.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace ugate {

std::string human_seconds(int64_t seconds);  // "42s", "3m 5s", "2h 10m", "4d 1h"
std::string mebibytes(uint64_t bytes);       // "9.8 MiB"
std::string errors_text(const nlohmann::json& errors);  // {"no_route": 2} -> "no_route=2"
// A JSON value as text: strings as they are, numbers exactly, null as "".
std::string json_text(const nlohmann::json& v);
std::string json_field(const nlohmann::json& obj, const char* key);  // json_text of obj[key], "" if absent

}  // namespace ugate

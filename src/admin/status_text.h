#pragma once
// `ugate status` in a terminal: what GET /debug/status says, as text.
#include <nlohmann/json.hpp>
#include <string>

namespace ugate {

std::string status_text(const nlohmann::json& status);

}  // namespace ugate

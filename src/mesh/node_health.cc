#include "mesh/node_health.h"

#include <nlohmann/json.hpp>

#include "identity/cert.h"

namespace ugate {

bool NodeHealth::record(const std::string& path, std::string_view node, CloseReason result, const std::string& detail) {
  std::lock_guard lock(mu_);
  auto [it, fresh] = paths_.try_emplace(path);
  State& s = it->second;
  bool changed = fresh ? result != CloseReason::kDone : s.last != result;
  s.node = node;
  s.last = result;
  s.detail = detail;
  s.at = std::chrono::system_clock::now();
  if (result != CloseReason::kDone) ++s.failures;
  return changed;
}

nlohmann::json NodeHealth::describe() const {
  std::lock_guard lock(mu_);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [path, s] : paths_) {
    out.push_back({{"node", s.node},
                   {"path", path},
                   {"result", to_string(s.last)},
                   {"detail", s.detail},
                   {"at", format_utc(s.at)},
                   {"failures", s.failures}});
  }
  return out;
}

}  // namespace ugate

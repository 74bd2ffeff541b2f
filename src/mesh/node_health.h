#pragma once
// How the pools' connections to each mesh path went lately, shared by the
// workers (each has its own pool): a change (reachable -> not, or another
// reason) is logged once for the process rather than once per stream or per
// worker, and /debug/nodes shows the last outcome. Touched only when a
// connection is made or fails, never per stream.
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "base/meta.h"

namespace ugate {

class NodeHealth {
 public:
  // Records how a connection attempt on `path` (to `node`) ended; true when
  // that differs from the last outcome recorded for the path.
  bool record(const std::string& path, std::string_view node, CloseReason result, const std::string& detail);
  // [{node, path, result, detail, at, failures}]
  nlohmann::json describe() const;

 private:
  struct State {
    std::string node;
    CloseReason last = CloseReason::kDone;
    std::string detail;
    std::chrono::system_clock::time_point at;
    uint64_t failures = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, State> paths_;
};

}  // namespace ugate

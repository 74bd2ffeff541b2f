#include "runtime/spawn.h"

#include <spdlog/spdlog.h>

#include <atomic>

namespace ugate {
namespace {
std::atomic<uint64_t> escaped{0};  // written only when a task fails: rare
}  // namespace

void note_escaped(const std::exception_ptr& e, std::string_view what) {
  escaped.fetch_add(1, std::memory_order_relaxed);
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("{} failed: {} (counted in ugate_escaped_exceptions_total)", what, ex.what());
  } catch (...) {
    spdlog::error("{} failed: an exception that is not a std::exception (counted in ugate_escaped_exceptions_total)",
                  what);
  }
}

uint64_t escaped_exceptions() { return escaped.load(std::memory_order_relaxed); }

}  // namespace ugate

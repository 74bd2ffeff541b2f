#include "admin/metrics.h"

#include <chrono>

#include "admin/admin_view.h"
#include "admin/process_stats.h"
#include "runtime/spawn.h"
#include "ugate/version.h"

namespace ugate {

void register_node_metrics(MetricRegistry& r, const AdminView& node) {
  constexpr auto gauge = MetricType::kGauge;
  r.add("ugate_build_info", gauge, "Build information.", [](MetricSamples& s) { s.add(label("version", kVersion), 1); });
  r.add_value("ugate_uptime_seconds", gauge, "Seconds since the gate started.", [&node] {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - node.started()).count());
  });
  r.add_value("ugate_workers", gauge, "Worker threads.", [&node] { return static_cast<uint64_t>(node.worker_count()); });
  r.add_value("ugate_draining", gauge, "1 while the gate drains before exiting.",
              [&node] { return node.draining() ? 1 : 0; });
  r.add_value("ugate_escaped_exceptions_total", MetricType::kCounter,
              "Exceptions that escaped a spawned task (a stream, an accept loop...): logged, never fatal.",
              [] { return escaped_exceptions(); });
  // Left out, not 0, when /proc cannot be read.
  r.add("ugate_process_resident_memory_bytes", gauge, "Resident memory.", [](MetricSamples& s) {
    if (auto rss = resident_bytes()) s.add(*rss);
  });
  r.add("ugate_process_open_fds", gauge, "Open file descriptors.", [](MetricSamples& s) {
    if (auto fds = open_fds()) s.add(*fds);
  });
}

}  // namespace ugate

#include "mesh/mesh_metrics.h"

#include "mesh/mesh.h"

namespace ugate {
namespace {

using Field = const Counter& (*)(const MeshStats&);

uint64_t sum(const std::vector<Mesh*>& meshes, auto field) {
  uint64_t total = 0;
  for (const Mesh* m : meshes) total += field(m->stats()).get();
  return total;
}

}  // namespace

void register_mesh_metrics(MetricRegistry& r, std::vector<Mesh*> meshes) {
  constexpr auto counter = MetricType::kCounter;
  auto value = [meshes](Field field) { return [meshes, field] { return sum(meshes, field); }; };
  r.add("ugate_mesh_connections_total", counter, "Mesh (HTTP/2) connections: served = accepted, pool = dialled.",
        [meshes](MetricSamples& s) {
          s.add(label("role", "served"), sum(meshes, [](const MeshStats& m) -> const Counter& { return m.accepted; }));
          s.add(label("role", "pool"), sum(meshes, [](const MeshStats& m) -> const Counter& { return m.opened; }));
        });
  r.add_value("ugate_mesh_connections_active", MetricType::kGauge, "Mesh connections open now.",
              value([](const MeshStats& m) -> const Counter& { return m.active; }));
  r.add("ugate_mesh_connections_closed_total", counter, "Mesh connections ended, by reason.",
        [meshes](MetricSamples& s) {
          for (size_t i = 1; i < MeshStats::kEndReasons; ++i)
            s.add(label("reason", h2::to_string(static_cast<h2::EndReason>(i))),
                  sum(meshes, [i](const MeshStats& m) -> const Counter& { return m.closed_by_reason[i]; }));
        });
  r.add_value("ugate_mesh_streams_reset_early_total", counter,
              "Streams a peer reset before they were answered (a rapid-reset flood closes its connection).",
              value([](const MeshStats& m) -> const Counter& { return m.premature_resets; }));
  r.add_value("ugate_mesh_send_queued_bytes", MetricType::kGauge,
              "Bytes queued for sending on the mesh's HTTP/2 and HTTP/3 streams (bounded per stream, connection and worker).",
              [meshes] {
                uint64_t total = 0;
                for (Mesh* m : meshes) total += m->send_budget().used();
                return total;
              });
  r.add_value("ugate_mesh_pool_streams_total", counter,
              "CONNECT streams the pool opened on its connections to mesh nodes.",
              value([](const MeshStats& m) -> const Counter& { return m.streams_opened; }));
  r.add_value("ugate_mesh_bridged_streams_total", counter,
              "Streams that began on another worker and were carried to a reverse connection held by this one.",
              value([](const MeshStats& m) -> const Counter& { return m.bridged; }));
  r.add("ugate_mesh_pool_dial_failures_total", counter,
        "Connections to mesh nodes the pool could not make (each failed the streams waiting for it), by reason.",
        [meshes](MetricSamples& s) {
          for (size_t i = 1; i < static_cast<size_t>(CloseReason::kCount); ++i) {
            uint64_t n = sum(meshes, [i](const MeshStats& m) -> const Counter& { return m.dial_failed[i]; });
            if (n > 0)  // a dial fails for a handful of reasons: the others stay out of the output
              s.add(label("reason", to_string(static_cast<CloseReason>(i))), n);
          }
        });
}

}  // namespace ugate

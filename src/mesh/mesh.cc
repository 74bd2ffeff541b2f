#include "mesh/mesh.h"

#include <spdlog/spdlog.h>

#include "auth/mesh_identity.h"

namespace ugate {
namespace {

uint32_t whole_seconds(Duration d) { return static_cast<uint32_t>(std::chrono::ceil<std::chrono::seconds>(d).count()); }

}  // namespace

Mesh::Mesh(Worker& worker, const MeshConfig& config, const std::vector<NodeConfig>& nodes, NodeHealth& health)
    : worker_(worker), config_(config), nodes_(nodes), health_(health), timer_(worker.context()) {
  settings_.stream_window = config.stream_window;
  settings_.connection_window = config.connection_window;
  settings_.max_frame = config.max_frame;
  settings_.max_concurrent_streams = config.max_concurrent_streams;
  timing_.keepalive_interval = whole_seconds(config.keepalive_interval);
  timing_.keepalive_timeout = whole_seconds(config.keepalive_timeout);
  timing_.idle_timeout = whole_seconds(config.pool_idle_timeout);
}

Mesh::~Mesh() {
  timer_.cancel();  // its handler sees the error and leaves us alone
  while (!connections_.empty()) {
    Connection& c = connections_.front();
    stats_.active.sub();
    delete &c;  // its session fails its streams
  }
}

void Mesh::adopt(std::unique_ptr<Connection> connection, bool served) {
  Connection& c = *connection.release();  // from here it deletes itself (on_closed)
  connections_.push_back(c);
  (served ? stats_.accepted : stats_.opened).add();
  stats_.active.add();
  if (draining_) c.session().go_away();
  c.session().start();
  if (!ticking_) {
    ticking_ = true;
    tick();
  }
}

// Once a second while there are connections; an idle worker does not wake.
void Mesh::tick() {
  if (connections_.empty()) {
    ticking_ = false;
    return;
  }
  for (Connection& c : connections_) c.session().on_tick();
  timer_.expires_after(std::chrono::seconds(1));
  timer_.async_wait([this](const error_code& ec) {
    if (!ec) tick();  // cancelled: the mesh is going away
  });
}

std::optional<MeshPath> Mesh::route(const HostPort& destination, std::string_view via) const {
  const MeshIdentity* identity = pool_.identity();
  if (nodes_.empty() || !identity) return std::nullopt;  // the common case costs no lookup
  return nodes_.route(destination, via, identity->state()->id->trust_domain);
}

void Mesh::drain() {
  draining_ = true;
  for (Connection& c : connections_) c.session().go_away();
}

void Mesh::abort_all(CloseReason) {
  pool_.abort_all();
  for (Connection& c : connections_) c.session().terminate(h2::EndReason::kClosed);
}

void Mesh::Connection::on_closed(h2::H2Session& session) {
  MeshStats& stats = mesh_.stats_;
  stats.closed_by_reason[static_cast<size_t>(session.end_reason())].add();
  stats.active.sub();
  // A peer that breaks HTTP/2 is worth a warning, once per worker; the rest is counted.
  bool warn = session.end_reason() == h2::EndReason::kProtocolError && !std::exchange(mesh_.warned_, true);
  spdlog::log(warn ? spdlog::level::warn : spdlog::level::debug,
              "mesh connection from/to {} ended: {} {} (counted in ugate_mesh_connections_closed_total)",
              format_endpoint(peer_), to_string(session.end_reason()), session.end_detail());
  delete this;  // on_closed is posted: nothing of the session is on the stack
}

}  // namespace ugate

#include "mesh/mesh.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "identity/mesh_identity.h"
#include "identity/spiffe.h"
#include "discovery/discovery.h"
#include "mesh/reverse.h"

namespace ugate {

Mesh::Mesh(Worker& worker, const MeshConfig& config, const std::vector<NodeConfig>& nodes, MeshShared& shared)
    : worker_(worker), config_(config), nodes_(nodes), shared_(shared), send_budget_(std::make_shared<h2::SendBudget>(worker.context())),
      timer_(worker.context()), direct_(worker.resolver(), worker.poller()) {
  lasting_timing_ = config_.timing;
  lasting_timing_.idle_timeout = 0;
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
  Connection& c = *connection.release();  // from here it owns itself (on_closed retires it)
  connections_.push_back(c);
  (served ? stats_.accepted : stats_.opened).add();
  stats_.active.add();
  if (draining_) c.session().go_away();
  c.session().start();
  if (!ticking_) {
    ticking_ = true;
    last_tick_ = std::chrono::steady_clock::now();
    tick(1);
  } else if (timer_.expiry() > std::chrono::steady_clock::now() + std::chrono::seconds(1)) {
    arm(1);  // the others only waited for a keepalive: this one's preface is timed
  }
}

// Only while there are connections, so that an idle worker does not wake: once
// a second while any of them has something timed, else once per keepalive
// interval (H2Session::tick_after).
void Mesh::tick(uint32_t seconds) {
  if (connections_.empty()) {
    ticking_ = false;
    return;
  }
  uint32_t next = UINT32_MAX;
  for (Connection& c : connections_) {
    c.session().on_tick(seconds);
    next = std::min(next, c.session().tick_after());
  }
  arm(next);
}

void Mesh::arm(uint32_t seconds) {
  timer_.expires_after(std::chrono::seconds(seconds));  // a wait still pending ends with operation_aborted
  timer_.async_wait([this](const error_code& ec) {
    if (ec) return;  // re-armed, or the mesh is going away
    auto now = std::chrono::steady_clock::now();
    auto waited = std::chrono::duration_cast<std::chrono::seconds>(now - last_tick_ + std::chrono::milliseconds(500));
    last_tick_ = now;
    tick(static_cast<uint32_t>(std::max<int64_t>(1, waited.count())));
  });
}

MeshTarget Mesh::resolve(const HostPort& destination, std::string_view via) const {
  MeshTarget t;
  const MeshIdentity* identity = pool_.identity();
  const bool any_registered = !shared_.registry.empty();
  // The common case (no mesh features in use) costs no lookup; a local
  // (Unix) socket is never a mesh node's.
  if (destination.unix_socket || !identity || (nodes_.empty() && via.empty() && !any_registered && !shared_.discovery)) return t;
  auto state = identity->state();
  return resolve_target(destination, via, state->id->trust_domain, nodes_, *this);
}

std::optional<ReverseRegistry::Entry> Mesh::registered(std::string_view key) const {
  if (shared_.registry.empty()) return std::nullopt;
  return shared_.registry.find(key);
}

std::optional<NodeConfig> Mesh::neighbour(std::string_view name, const NodeConfig* configured) const {
  if (!shared_.discovery) return std::nullopt;
  auto table = shared_.discovery->neighbours();
  if (!table) return std::nullopt;
  for (const auto& [node_id, n] : *table) {
    bool match = false;
    if (configured) {
      match = is_spiffe_ref(configured->id) ? n.spiffe_id == configured->id : node_id == configured->id;
    } else if (node_id == name) {
      match = true;
    } else if (auto id = parse_spiffe_id(n.spiffe_id)) {
      match = id->name() == name;
    }
    if (!match || n.mesh.port() == 0) continue;
    return NodeConfig{std::string(name), HostPort{n.mesh.address().to_string(), n.mesh.port()}, node_id, ""};
  }
  return std::nullopt;
}

Mesh::Connection* Mesh::reverse(uint64_t serial) const {
  auto it = reverse_.find(serial);
  return it == reverse_.end() ? nullptr : it->second;
}

void Mesh::add_registrar(const NodeConfig& gateway, ListenerSlot& slot, const RemoteAcceptConfig& config) {
  registrars_.push_back(std::make_unique<Registrar>(*this, gateway, slot, config));
}

void Mesh::drain() {
  draining_ = true;
  for (auto& r : registrars_) r->stop();
  for (Connection& c : connections_) c.session().go_away();
}

void Mesh::abort_all(CloseReason) {
  for (auto& r : registrars_) r->stop();
  pool_.abort_all();
  for (Connection& c : connections_) c.session().terminate(h2::EndReason::kClosed);
}

void Mesh::Connection::on_closed(h2::H2Session& session) {
  MeshStats& stats = mesh_.stats_;
  stats.closed_by_reason[static_cast<size_t>(session.end_reason())].add();
  stats.premature_resets.add(session.premature_resets());
  stats.active.sub();
  // A peer that breaks HTTP/2 is worth a warning, once per worker; the rest is counted.
  const h2::EndReason why = session.end_reason();
  bool abuse = why == h2::EndReason::kProtocolError || why == h2::EndReason::kTooManyResets;
  bool warn = abuse && !std::exchange(mesh_.warned_, true);
  spdlog::log(warn ? spdlog::level::warn : spdlog::level::debug,
              "mesh connection from/to {} ended: {} (counted in ugate_mesh_connections_closed_total)",
              format_endpoint(peer_), session.end_summary());
  unlink();  // out of the mesh's list now: no more ticks, nor the mesh's delete at its end
  mesh_.worker().retire(*this);
}

}  // namespace ugate

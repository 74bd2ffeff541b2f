#pragma once
// Mesh: one worker's share of the mesh data plane. It keeps the worker's
// HTTP/2 connections (served HBONE connections, and the client pool's), ticks
// them once a second (keepalive, idle release) while there are any, counts
// them, says GOAWAY on all of them when the gate drains and ends them with the
// worker. Each worker has its own: a connection and its streams live on one
// thread, so the data path takes no locks.
#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>
#include <memory>
#include <unordered_map>

#include "listener/listener_slot.h"
#include "mesh/mesh_config.h"
#include "base/stats.h"
#include "runtime/worker.h"
#include "mesh/h2_session.h"
#include "mesh/hbone_server.h"
#include "mesh/mesh_connector.h"
#include "mesh/mesh_path.h"
#include "mesh/virtual_addresses.h"
#include "mesh/node_health.h"
#include "mesh/reverse_registry.h"
#include "mesh/pool.h"

namespace ugate {

// Written by its worker only; the admin thread sums them over workers.
struct MeshStats {
  static constexpr size_t kEndReasons = static_cast<size_t>(h2::EndReason::kPrefaceTimeout) + 1;
  Counter accepted;  // connections served
  Counter opened;    // connections dialled (pool)
  Counter active;
  std::array<Counter, kEndReasons> closed_by_reason;
  // The pool: streams it opened on its connections, and connections it could not make, by reason.
  Counter streams_opened;
  Counter bridged;  // streams carried for another worker to a reverse connection held here
  Counter premature_resets;  // streams a peer reset before they were answered (served connections)
  std::array<Counter, static_cast<size_t>(CloseReason::kCount)> dial_failed;
};

namespace discovery {
class Discovery;
}

// What every worker's Mesh shares, owned by the Gate.
struct MeshShared {
  NodeHealth health;         // the pools' last outcome per path
  ReverseRegistry registry;  // nodes registered here over reverse connections (a gateway)
  const discovery::Discovery* discovery = nullptr;  // neighbours on the local links, when enabled
  const VirtualAddresses* virtual_addresses = nullptr;  // the nodes' (DNS answers them; the capture maps them back)
};

class Registrar;

class Mesh final : public WorkerService, private MeshSurroundings {
 public:
  // A connection the mesh keeps: the handler of its session. It owns itself
  // (and its session) and retires (Worker::retire) when the session is over.
  class Connection : public h2::H2Session::Handler, public h2::IntrusiveHook, public Retirable {
   public:
    Connection(Mesh& mesh, TcpEndpoint peer) : mesh_(mesh), peer_(peer) {}
    h2::H2Session& session() { return *session_; }
    const TcpEndpoint& peer() const { return peer_; }

   protected:
    void on_closed(h2::H2Session& session) override;
    Mesh& mesh_;
    TcpEndpoint peer_;  // the other end of the transport
    std::unique_ptr<h2::H2Session> session_;
  };

  Mesh(Worker& worker, const MeshConfig& config, const std::vector<NodeConfig>& nodes, MeshShared& shared);
  ~Mesh() override;

  // Takes a connection whose session was just made, and starts it.
  void adopt(std::unique_ptr<Connection> connection, bool served);
  void drain() override;                     // GOAWAY everywhere: finish, take nothing new
  void abort_all(CloseReason why) override;  // close every connection now
  bool draining() const { return draining_; }

  // The node's identity (set once it is loaded; the pool dials with it).
  void set_identity(const MeshIdentity* identity) { pool_.set_identity(identity); }
  // Where a stream to `destination` goes, from a listener with `via` ("" for none):
  //  - a node (NAME:PORT, NAME.<trust-domain>:PORT, NODE_ID.<trust-domain>:PORT):
  //    on the local link (discovery) directly; registered here (reverse); by
  //    its configured path; through its via gateway by name; else unavailable;
  //  - anything else through the listener's via node, or directly.
  MeshTarget resolve(const HostPort& destination, std::string_view via) const;
  Pool& pool() { return pool_; }
  // The worker's Connector: mesh nodes by their paths, the rest straight.
  Connector& connector() { return connector_; }
  NodeHealth& health() { return shared_.health; }
  MeshShared& shared() { return shared_; }

  // Gateway: the reverse connections this worker holds, by registration serial.
  void add_reverse(uint64_t serial, Connection& c) { reverse_[serial] = &c; }
  void remove_reverse(uint64_t serial) { reverse_.erase(serial); }
  Connection* reverse(uint64_t serial) const;
  // Node: keeps a reverse connection to `gateway`, serving HBONE on `slot`.
  void add_registrar(const NodeConfig& gateway, ListenerSlot& slot, const RemoteAcceptConfig& config);
  ListenerStats& bridge_stats() { return bridge_stats_; }
  // Connections without idle release (reverse ones: the node must stay reachable).
  const h2::Timing& lasting_timing() const { return lasting_timing_; }
  const MeshConfig& config() const { return config_; }

  Worker& worker() { return worker_; }
  // Who serves the requests of HBONE connections (the doors' hbone_door); set by the gate.
  void set_hbone_door(HboneDoor door) { hbone_door_ = door; }
  HboneDoor hbone_door() const { return hbone_door_; }
  const h2::Settings& settings() const { return config_.h2; }
  h2::SendBudget& send_budget() { return *send_budget_; }
  // Shared with the worker's QUIC connections, which the listeners end after the Mesh.
  const std::shared_ptr<h2::SendBudget>& shared_send_budget() const { return send_budget_; }
  const h2::Timing& timing() const { return config_.timing; }
  MeshStats& stats() { return stats_; }
  const MeshStats& stats() const { return stats_; }

 private:
  void tick(uint32_t seconds);  // `seconds` since the last tick
  void arm(uint32_t seconds);

  std::optional<NodeConfig> neighbour(std::string_view name, const NodeConfig* configured) const override;
  std::optional<ReverseRegistry::Entry> registered(std::string_view key) const override;

  Worker& worker_;
  HboneDoor hbone_door_ = nullptr;
  const MeshConfig& config_;
  NodeDirectory nodes_;
  MeshShared& shared_;
  h2::Timing lasting_timing_;
  std::shared_ptr<h2::SendBudget> send_budget_;  // before the connections, which count in it
  std::unordered_map<uint64_t, Connection*> reverse_;
  std::vector<std::unique_ptr<Registrar>> registrars_;
  ListenerStats bridge_stats_;  // bytes relayed for streams from other workers to this one's reverse connections
  boost::intrusive::list<Connection, boost::intrusive::constant_time_size<false>> connections_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point last_tick_;
  bool ticking_ = false;
  bool draining_ = false;
  bool warned_ = false;  // a protocol error was logged at warn level
  MeshStats stats_;
  Pool pool_{*this};  // after the connections' list: its connections are in it
  DirectConnector direct_;
  MeshConnector connector_{*this, direct_};
};

}  // namespace ugate

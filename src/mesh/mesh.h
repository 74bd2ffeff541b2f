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

#include "core/config.h"
#include "core/stats.h"
#include "io/worker.h"
#include "mesh/h2_session.h"
#include "mesh/mesh_path.h"
#include "mesh/node_health.h"
#include "mesh/pool.h"

namespace ugate {

// Written by its worker only; the admin thread sums them over workers.
struct MeshStats {
  static constexpr size_t kEndReasons = static_cast<size_t>(h2::EndReason::kClosed) + 1;
  Counter accepted;  // connections served
  Counter opened;    // connections dialled (pool)
  Counter active;
  std::array<Counter, kEndReasons> closed_by_reason;
  // The pool: streams it opened on its connections, and connections it could not make, by reason.
  Counter streams_opened;
  std::array<Counter, static_cast<size_t>(CloseReason::kCount)> dial_failed;
};

class Mesh final : public WorkerService {
 public:
  // A connection the mesh keeps: the handler of its session. It deletes
  // itself (and its session) when the session is over.
  class Connection : public h2::H2Session::Handler, public h2::IntrusiveHook {
   public:
    Connection(Mesh& mesh, TcpEndpoint peer) : mesh_(mesh), peer_(peer) {}
    virtual ~Connection() = default;
    h2::H2Session& session() { return *session_; }
    const TcpEndpoint& peer() const { return peer_; }

   protected:
    void on_closed(h2::H2Session& session) override;
    Mesh& mesh_;
    TcpEndpoint peer_;  // the other end of the transport
    std::unique_ptr<h2::H2Session> session_;
  };

  Mesh(Worker& worker, const MeshConfig& config, const std::vector<NodeConfig>& nodes, NodeHealth& health);
  ~Mesh() override;

  // Takes a connection whose session was just made, and starts it.
  void adopt(std::unique_ptr<Connection> connection, bool served);
  void drain() override;                     // GOAWAY everywhere: finish, take nothing new
  void abort_all(CloseReason why) override;  // close every connection now
  bool draining() const { return draining_; }

  // The node's identity (set once it is loaded; the pool dials with it).
  void set_identity(const MeshIdentity* identity) { pool_.set_identity(identity); }
  // The mesh path to a destination, or nullopt to dial it directly (see NodeDirectory).
  std::optional<MeshPath> route(const HostPort& destination, std::string_view via) const;
  Pool& pool() { return pool_; }
  NodeHealth& health() { return health_; }
  const MeshConfig& config() const { return config_; }

  Worker& worker() { return worker_; }
  const h2::Settings& settings() const { return settings_; }
  const h2::Timing& timing() const { return timing_; }
  MeshStats& stats() { return stats_; }
  const MeshStats& stats() const { return stats_; }

 private:
  void tick();

  Worker& worker_;
  const MeshConfig& config_;
  NodeDirectory nodes_;
  NodeHealth& health_;
  h2::Settings settings_;
  h2::Timing timing_;
  boost::intrusive::list<Connection, boost::intrusive::constant_time_size<false>> connections_;
  asio::steady_timer timer_;
  bool ticking_ = false;
  bool draining_ = false;
  bool warned_ = false;  // a protocol error was logged at warn level
  MeshStats stats_;
  Pool pool_{*this};  // after the connections' list: its connections are in it
};

}  // namespace ugate

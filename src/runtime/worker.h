#pragma once
// Worker: one thread with its own io_context. Each listener has one
// SO_REUSEPORT socket per worker, so a connection lives on one thread for its
// whole life and the data path takes no locks. The worker also keeps a coarse
// clock (ticks) that drives every stream's deadlines in one sweep.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <thread>

#include "runtime/access_log.h"
#include "base/stats.h"
#include "runtime/buffer_pool.h"
#include "runtime/resolver.h"
#include "runtime/poller.h"
#include "runtime/retire.h"
#include "runtime/tracked.h"

namespace ugate {

class Mesh;       // src/mesh/mesh.h
class Connector;  // src/upstream/connector.h

// Per-worker state of a subsystem that is not a stream (the mesh's HTTP/2
// connections and pools): told when the gate drains, ended with the worker,
// before its io_context goes.
class WorkerService {
 public:
  virtual ~WorkerService() = default;
  virtual void start() {}                     // with the worker, before its thread runs
  virtual void drain() {}                     // stop taking new work; let what runs finish
  virtual void abort_all(CloseReason why) {}  // end everything now
  virtual void close_io() {}                  // before the io_context goes (when ended after it)
};
class Worker {
 public:
  static constexpr std::chrono::milliseconds kTick{100};
  static constexpr size_t kTrimAfter = 64;      // streams at once: going idle afterwards returns memory

  Worker(unsigned index, AccessLogSink* access_log);
  ~Worker();

  // Before start(); ended before the io_context (see ~Worker).
  void add_service(std::unique_ptr<WorkerService> service);
  // Before start(): the service that owns the listener slots (src/listener/).
  // It starts and drains first, and is destroyed after the io_context, since
  // unfinished stream tasks name their slot when they are destroyed.
  void set_listeners(std::unique_ptr<WorkerService> listeners) { listeners_ = std::move(listeners); }
  void start();
  void stop_accepting();           // thread-safe; also drains the services
  void abort_all(CloseReason why);  // thread-safe
  void stop_and_join();            // thread-safe; after this only the destructor
  // JSON array of this worker's streams; run it on this worker's context.
  asio::awaitable<nlohmann::json> describe_streams();

  unsigned index() const { return index_; }
  asio::io_context& context() { return *ctx_; }

  // For streams running on this worker.
  BufferPool& buffers() { return buffers_; }
  PipePool& pipes() { return pipes_; }
  Resolver& resolver() { return *resolver_; }
  // The admin server's bound address, which client-named destinations may
  // not reach unless their listener says reach_admin. Set before start().
  void set_admin_endpoint(asio::ip::tcp::endpoint e) { admin_endpoint_ = e; }
  const std::optional<asio::ip::tcp::endpoint>& admin_endpoint() const { return admin_endpoint_; }
  Poller& poller() { return *poller_; }
  AccessLog& access_log() { return access_log_; }
  // Where streams' upstreams come from (src/upstream/connector.h): the mesh's
  // connector in the gate; tests may set a direct or fake one.
  Connector& connector() const { return *connector_; }
  void set_connector(Connector* c) { connector_ = c; }
  Mesh* mesh() const { return mesh_; }  // this worker's mesh connections and pools (a service)
  void set_mesh(Mesh* mesh) { mesh_ = mesh; }
  // Runs a task on this worker; an exception is logged, never lost.
  void spawn(asio::awaitable<void> task);
  const uint32_t& now_tick() const { return now_tick_; }
  void track(Tracked& t);
  // How an object that owns itself ends: destroyed after the current handler
  // returns (runtime/retire.h); a Tracked one leaves the sweep at once.
  void retire(Retirable& r) { retired_.retire(r); }
  void retire(Tracked& t) {
    t.unlink();
    retired_.retire(t);
  }
  // Ticks from now until `d` has surely passed: the current tick is already
  // partly gone, so a deadline fires between d and d + one tick, never before.
  static uint32_t ticks(std::chrono::milliseconds d) {
    return static_cast<uint32_t>((d + kTick - std::chrono::milliseconds(1)) / kTick) + 1;
  }

 private:
  asio::awaitable<void> tick_loop();
  void release_memory();
  uint32_t clock_tick() const;

  std::unique_ptr<asio::io_context> ctx_;  // destroyed explicitly, first (see ~Worker)
  std::optional<asio::ip::tcp::endpoint> admin_endpoint_;
  unsigned index_;
  BufferPool buffers_;
  PipePool pipes_;
  std::optional<Resolver> resolver_;
  std::optional<Poller> poller_;
  AccessLog access_log_;
  std::vector<std::unique_ptr<WorkerService>> services_;
  std::unique_ptr<WorkerService> listeners_;  // outlives ctx_, which ~Worker resets
  Mesh* mesh_ = nullptr;
  Connector* connector_ = nullptr;
  TrackedList tracked_;
  uint32_t now_tick_ = 0;
  bool ticking_ = false;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::thread thread_;
  RetireList retired_;  // last: emptied before the rest goes (see ~Worker)
};

}  // namespace ugate

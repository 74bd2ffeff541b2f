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
#include <deque>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <thread>

#include "runtime/access_log.h"
#include "config/config.h"
#include "base/stats.h"
#include "runtime/buffer_pool.h"
#include "runtime/resolver.h"
#include "runtime/poller.h"
#include "runtime/tracked.h"

namespace ugate {

class Worker;
struct ListenerSlot;
class Mesh;       // src/mesh/mesh.h
class Connector;  // src/upstream/connector.h

// Per-worker state of a subsystem that is not a stream (the mesh's HTTP/2
// connections and pools): told when the gate drains, ended with the worker,
// before its io_context goes.
class WorkerService {
 public:
  virtual ~WorkerService() = default;
  virtual void drain() {}                     // stop taking new work; let what runs finish
  virtual void abort_all(CloseReason why) {}  // end everything now
};
struct ListenerAuth;

// A door turns an accepted connection (a non-blocking descriptor, from
// `peer`) into a routed, proxied Stream.
using Door = asio::awaitable<void> (*)(Worker&, ListenerSlot&, int fd, asio::ip::tcp::endpoint peer);

// A listener that does not accept connections (UDP): it runs on its worker's
// context, from start() until stop() (drain); destroyed before the context.
class DatagramListener {
 public:
  virtual ~DatagramListener() = default;
  virtual void start() = 0;
  virtual void stop() = 0;
};

struct ListenerSlot {
  ListenerSlot(const ListenerConfig& c, Door d, std::atomic<uint64_t>& total, asio::ip::tcp::acceptor a)
      : config(&c), door(d), active_total(&total), acceptor(std::move(a)) {
    boost::system::error_code ec;  // a closed acceptor (tests) has no address
    bound = acceptor->local_endpoint(ec);
  }
  ListenerSlot(const ListenerConfig& c, std::atomic<uint64_t>& total) : config(&c), door(nullptr), active_total(&total) {}
  const ListenerConfig* config;
  Door door;
  std::atomic<uint64_t>* active_total;  // this listener's streams on all workers (max_streams)
  const ListenerAuth* auth = nullptr;    // TLS contexts and the CA, for doors that speak TLS
  ListenerStats stats;
  asio::ip::tcp::endpoint bound;  // the address the listener has (port 0 in config: the kernel's pick)
  std::optional<asio::ip::tcp::acceptor> acceptor;
  std::unique_ptr<DatagramListener> datagram;  // instead of the acceptor (UDP)
};

class Worker {
 public:
  static constexpr std::chrono::milliseconds kTick{100};
  static constexpr unsigned kAcceptBurst = 16;  // accepts in a row before other work runs
  static constexpr size_t kTrimAfter = 64;      // streams at once: going idle afterwards returns memory

  Worker(unsigned index, AccessLogSink* access_log);
  ~Worker();

  // Before start(): the acceptor must have been opened on context().
  void add_listener(const ListenerConfig& config, Door door, std::atomic<uint64_t>& active_total,
                    asio::ip::tcp::acceptor acceptor, const ListenerAuth* auth = nullptr);
  // Before start(); ended before the io_context (see ~Worker).
  void add_service(std::unique_ptr<WorkerService> service);
  // A slot for a datagram listener, which the caller then sets (slot.datagram).
  ListenerSlot& add_datagram_listener(const ListenerConfig& config, std::atomic<uint64_t>& active_total);
  // A slot for streams that do not come from a socket of ours (reverse accept): stats and auth only.
  ListenerSlot& add_virtual_listener(const ListenerConfig& config, std::atomic<uint64_t>& active_total,
                                     const ListenerAuth* auth);
  void start();
  void stop_accepting();           // thread-safe; also drains the services
  void abort_all(CloseReason why);  // thread-safe
  void stop_and_join();            // thread-safe; after this only the destructor
  uint64_t active_streams() const;  // thread-safe
  // JSON array of this worker's streams; run it on this worker's context.
  asio::awaitable<nlohmann::json> describe_streams();

  unsigned index() const { return index_; }
  asio::io_context& context() { return *ctx_; }
  const std::deque<ListenerSlot>& listeners() const { return listeners_; }
  // This worker's slot of a listener (every worker has one per listener), or null.
  ListenerSlot* slot_of(const ListenerConfig* config);

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
  static uint32_t ticks(std::chrono::milliseconds d) { return static_cast<uint32_t>((d + kTick - std::chrono::milliseconds(1)) / kTick); }

 private:
  asio::awaitable<void> accept_loop(ListenerSlot& slot);
  asio::awaitable<void> tick_loop();
  void release_memory();
  uint32_t clock_tick() const;

  std::unique_ptr<asio::io_context> ctx_;  // destroyed explicitly, first (see ~Worker)
  std::optional<asio::ip::tcp::endpoint> admin_endpoint_;
  unsigned index_;
  std::deque<ListenerSlot> listeners_;  // stable addresses
  BufferPool buffers_;
  PipePool pipes_;
  std::optional<Resolver> resolver_;
  std::optional<Poller> poller_;
  AccessLog access_log_;
  std::vector<std::unique_ptr<WorkerService>> services_;
  Mesh* mesh_ = nullptr;
  Connector* connector_ = nullptr;
  TrackedList tracked_;
  uint32_t now_tick_ = 0;
  bool ticking_ = false;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::thread thread_;
};

}  // namespace ugate

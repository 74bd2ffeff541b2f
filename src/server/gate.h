#pragma once
// Gate: wires config, listeners, workers and the admin server, and owns the
// gateway's life: start, serve, drain (on SIGTERM/SIGINT when it owns the
// process, on request when a program embeds it: src/embed/), stop.
#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <csignal>
#include <deque>
#include <memory>
#include <optional>
#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <vector>

#include "runtime/memory_watermark.h"
#include "admin/admin_view.h"
#include "base/metric_registry.h"
#include "identity/registration_token.h"
#include "runtime/access_log.h"
#include "config/config.h"
#include "runtime/listen_socket.h"
#include "runtime/unix_socket.h"
#include "listener/listener_slot.h"
#include "runtime/worker.h"
#include "dns/server.h"
#include "quic/quic_server.h"
#include "stun/client_service.h"
#include "stun/server.h"

namespace ugate {

class AdminServer;
namespace webpush {
class PushServer;
}
namespace discovery {
class Discovery;
}
class CaService;
struct MeshShared;
class IdentityRenewer;
class MeshIdentity;
struct ListenerAuth;
class WorkerListeners;

class Gate final : public AdminView {
 public:
  // kProcess: the gate is the process (signals are its own); kEmbedded: a
  // program hosts it and keeps its signals (only SIGPIPE at its default is ignored).
  enum class Host : uint8_t { kProcess, kEmbedded };
  explicit Gate(Config config, Host host = Host::kProcess);
  ~Gate();

  // Binds every listener and the admin port (StartError with a clear message
  // if one fails), serves until a signal, drains, and returns the exit code.
  int run();
  // run()'s steps for an embedding program: start() binds and starts the
  // workers (StartError); serve() runs the control thread until stop() or the
  // end of a drain, then ends the workers. drain() and stop() are thread-safe.
  void start();
  void serve();
  void drain();  // no new streams; open ones get drain_timeout, then are closed; then serve() returns
  void stop();   // serve() returns now; open streams are closed as the workers end
  // Before start(): a listener slot named `embed` on each worker, for the
  // streams an embedding program opens (src/embed/local_stream.*).
  void add_local_streams() { local_streams_wanted_ = true; }
  ListenerGroup* local_streams() { return local_streams_; }
  Worker& worker(size_t i) { return *workers_[i]; }
  asio::io_context& control() { return control_; }

  const Config& config() const override { return config_; }
  size_t worker_count() const override { return workers_.size(); }
  bool ready() const override { return ready_.load(); }
  bool draining() const override { return draining_.load(); }
  std::chrono::steady_clock::time_point started() const override { return started_; }
  uint64_t active_streams() const override;
  const MetricRegistry& metrics() const override { return metrics_; }
  // For /debug/streams: asks every worker on its own thread.
  asio::awaitable<nlohmann::json> describe_streams() override;
  // For /debug/nodes: the mesh nodes this gate knows of and how.
  asio::awaitable<nlohmann::json> describe_nodes() override;
  // For /debug/listeners and --ports-file: the admin address and each
  // listener's name, protocol and bound address (port 0 in the config: the
  // kernel's choice), once bound.
  nlohmann::json describe_listeners() const override;
  nlohmann::json describe_identity() const override;
  // Once ready, run() writes describe_listeners() to `path` (atomically), so
  // that a test or a supervisor learns ports it left to the kernel.
  void set_ports_file(std::string path) { ports_file_ = std::move(path); }

 private:
  void bind_listeners();
  void bound(const ListenerConfig& l, const asio::ip::tcp::endpoint& ep);
  void bound(const ListenerConfig& l, const std::string& address);
  void bind_unix_listener(ListenerGroup& group, Door door);
  void write_ports_file() const;
  void start_push_server(const ListenerConfig& l, const asio::ip::tcp::endpoint& ep);
  void load_identity();
  void bind_udp_listener(ListenerGroup& group, const asio::ip::tcp::endpoint& address);
  // A stun listener's UDP side, beside its TCP acceptors on the same port (`address`, bound).
  void bind_stun_udp(ListenerGroup& group, const asio::ip::tcp::endpoint& address);
  // A dns listener's UDP side, likewise.
  void bind_dns_udp(ListenerGroup& group, const asio::ip::tcp::endpoint& address);
  // A quic listener: one UDP socket per worker, each serving QUIC connections.
  void bind_quic_listener(ListenerGroup& group, const asio::ip::tcp::endpoint& address);
  void start_discovery();
  void start_remote_accept();
  void register_metrics();
  asio::awaitable<void> wait_for_signal_then_drain();
  asio::awaitable<void> drain_streams();
  asio::awaitable<void> log_other_signals();
  asio::awaitable<void> watch_memory();
  static constexpr int kOtherSignals[] = {SIGHUP, SIGUSR1, SIGUSR2};

  Config config_;
  Host host_;
  MemoryWatermark memory_;  // overload.memory_watermark, read by every listener's admission
  std::string ports_file_;
  std::vector<std::array<std::string, 3>> bound_;  // name, protocol, address of each listener
  std::chrono::steady_clock::time_point started_;
  asio::io_context control_;  // admin and signals: apart from the data plane
  std::unique_ptr<AccessLogSink> access_sink_;
  std::deque<ListenerGroup> groups_;
  std::deque<stun::StunListener> stun_listeners_;  // options and counters of each stun listener
  std::unique_ptr<VirtualAddresses> virtual_addresses_;  // the configured nodes' (dns, capture-out)
  std::unique_ptr<dns::MeshZone> dns_zone_;                // what the dns listeners answer themselves
  std::deque<dns::DnsListener> dns_listeners_;
  std::deque<quic::QuicListener> quic_listeners_;  // counters and reset secret of each quic listener
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<WorkerListeners*> listeners_;  // each worker's (the worker owns it)
  std::vector<std::unique_ptr<UnixListenSocket>> unix_sockets_;  // their files, removed after the workers end
  std::unique_ptr<MeshIdentity> identity_;
  std::unique_ptr<CaService> ca_;
  RegistrationCheck registration_;  // who may sign reverse registration tokens (mesh listeners)
  std::unique_ptr<IdentityRenewer> renewer_;
  std::deque<ListenerAuth> listener_auth_;  // one per listener, in order (reverse accept's last)
  std::unique_ptr<AdminServer> admin_;
  std::vector<std::unique_ptr<webpush::PushServer>> push_servers_;
  std::unique_ptr<discovery::Discovery> discovery_;
  std::unique_ptr<stun::StunClientService> stun_client_;  // stun_client: our reflexive address, our NAT
  std::unique_ptr<MeshShared> mesh_shared_;  // what the workers' meshes share (node health, reverse registry)
  MetricRegistry metrics_;  // filled by the modules once everything started
  bool local_streams_wanted_ = false;
  ListenerGroup* local_streams_ = nullptr;
  ListenerConfig local_listener_{.name = "embed", .protocol = Protocol::kTcp};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> control_guard_;  // serve() until stopped
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  bool drain_forced_ = false;  // a second signal: the drain skips its wait (control thread)
};

}  // namespace ugate

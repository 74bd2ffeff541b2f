#pragma once
// A listener on one worker (its slot), and what the workers' slots of one
// listener share (its group). A door gets the slot of the connection it serves.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/stats.h"
#include "listener/listener_config.h"
#include "listener/source_rate_limiter.h"
#include "policy/listener_auth.h"
#include "runtime/memory_watermark.h"

namespace ugate {

namespace asio = boost::asio;
class Worker;
// A listening socket of any stream family: TCP, or a Unix socket.
using StreamAcceptor = asio::basic_socket_acceptor<asio::generic::stream_protocol>;
struct ListenerSlot;
struct ListenerGroup;

// A place among a listener's max_streams, taken in one atomic step (so the limit holds exactly
// while every worker admits at once) and given back when destroyed. Whoever holds the stream
// holds its place: the door while it reads a handshake, then its Session (or UDP flow). Empty
// when the listener has no limit: then nothing is counted across the workers.
class Admission {
 public:
  Admission() = default;
  explicit Admission(ListenerGroup* group) : group_(group) {}
  Admission(Admission&& o) noexcept : group_(std::exchange(o.group_, nullptr)) {}
  Admission& operator=(Admission&& o) noexcept {
    if (this != &o) {
      release();
      group_ = std::exchange(o.group_, nullptr);
    }
    return *this;
  }
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;
  ~Admission() { release(); }

 private:
  void release();
  ListenerGroup* group_ = nullptr;
};

// Where an accepted connection comes from, as its stream records it: the
// socket's peer; or, behind a load balancer the listener trusts
// (accept_proxy_protocol), the client its PROXY header named and the address
// that client connected to.
struct AcceptedFrom {
  asio::ip::tcp::endpoint source;
  asio::ip::tcp::endpoint original_dst;  // unset (port 0): none named
  std::optional<UnixPeer> unix_peer;     // a Unix socket listener's client (source unset then)
  Admission admission;                   // the stream's place, taken by the accept loop
};

// A door turns an accepted connection (a non-blocking descriptor) into a
// routed, proxied Stream.
using Door = asio::awaitable<void> (*)(Worker&, ListenerSlot&, int fd, AcceptedFrom from);

// A listener that does not accept connections (UDP): it runs on its worker's
// context, from start() until stop() (drain); destroyed before the context.
class DatagramListener {
 public:
  virtual ~DatagramListener() = default;
  virtual void start() = 0;
  virtual void stop() = 0;
};

// One listener across the workers. Owned by the gate; outlives the workers.
struct ListenerGroup {
  explicit ListenerGroup(const ListenerConfig& c, const ListenerAuth* a = nullptr);
  const ListenerConfig* config;
  const ListenerAuth* auth;          // TLS contexts and the CA, for doors that speak TLS
  const MemoryWatermark* memory = nullptr;  // the process's (overload.memory_watermark), if any
  std::atomic<uint64_t> active{0};   // streams on all workers, kept only under max_streams
  std::unique_ptr<SourceRateLimiter> source_rate;  // source_rate_limit's, shared by the workers; null: none
  std::atomic<bool> said_rate_limited{false};      // its first refusal is logged, the others counted
  std::vector<ListenerSlot*> slots;  // by worker index

  // Authorization decisions by rule (-1: the default) and outcome, summed over the workers.
  uint64_t decided(int rule, bool allow) const;
};

struct ListenerSlot {
  explicit ListenerSlot(ListenerGroup& g, Door d = nullptr);
  const ListenerConfig* config;
  const ListenerAuth* auth;
  Door door;  // null: streams come from elsewhere (UDP, reverse accept)
  ListenerGroup* group;
  ListenerStats stats;
  asio::ip::tcp::endpoint bound;  // the address the listener has (port 0 in config: the kernel's pick); unset: Unix
  std::optional<StreamAcceptor> acceptor;
  std::unique_ptr<DatagramListener> datagram;  // instead of the acceptor (UDP)
  // This worker's authorization decisions: by rule (index 0: the default) and outcome.
  std::unique_ptr<Counter[]> decisions;

  void count(const AuthzDecision& d) { decisions[decision_index(d.rule, d.allow)].add(); }
  static size_t decision_index(int rule, bool allow) { return 2 * static_cast<size_t>(rule + 1) + (allow ? 0 : 1); }

  // A place for one more stream, or why there is none: kOverload at max_streams,
  // kMemoryWatermark above the memory watermark. The streams on all workers are counted only
  // when max_streams bounds them: otherwise no line is written by every core for every stream.
  // Whether source_rate_limit lets one more connection from `source` in (a
  // token taken if so); the first refusal of the listener is logged. The
  // caller counts it (reason rate_limited) and closes the connection.
  bool source_rate_allows(const asio::ip::address& source);

  Result<Admission, CloseReason> admit() {
    if (group->memory && group->memory->over()) return CloseReason::kMemoryWatermark;
    if (!config->max_streams) return Admission();
    if (group->active.fetch_add(1, std::memory_order_relaxed) >= config->max_streams) {
      group->active.fetch_sub(1, std::memory_order_relaxed);
      return CloseReason::kOverload;
    }
    return Admission(group);
  }
};

inline void Admission::release() {
  if (group_) group_->active.fetch_sub(1, std::memory_order_relaxed);
  group_ = nullptr;
}

}  // namespace ugate

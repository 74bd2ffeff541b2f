#pragma once
// A listener on one worker (its slot), and what the workers' slots of one
// listener share (its group). A door gets the slot of the connection it serves.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <vector>

#include "base/stats.h"
#include "listener/listener_config.h"
#include "policy/listener_auth.h"

namespace ugate {

namespace asio = boost::asio;
class Worker;
struct ListenerSlot;

// Where an accepted connection comes from, as its stream records it: the
// socket's peer; or, behind a load balancer the listener trusts
// (accept_proxy_protocol), the client its PROXY header named and the address
// that client connected to.
struct AcceptedFrom {
  asio::ip::tcp::endpoint source;
  asio::ip::tcp::endpoint original_dst;  // unset (port 0): none named
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
  explicit ListenerGroup(const ListenerConfig& c, const ListenerAuth* a = nullptr) : config(&c), auth(a) {}
  const ListenerConfig* config;
  const ListenerAuth* auth;          // TLS contexts and the CA, for doors that speak TLS
  std::atomic<uint64_t> active{0};   // streams on all workers, kept only under max_streams
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
  asio::ip::tcp::endpoint bound;  // the address the listener has (port 0 in config: the kernel's pick)
  std::optional<asio::ip::tcp::acceptor> acceptor;
  std::unique_ptr<DatagramListener> datagram;  // instead of the acceptor (UDP)
  // This worker's authorization decisions: by rule (index 0: the default) and outcome.
  std::unique_ptr<Counter[]> decisions;

  void count(const AuthzDecision& d) { decisions[decision_index(d.rule, d.allow)].add(); }
  static size_t decision_index(int rule, bool allow) { return 2 * static_cast<size_t>(rule + 1) + (allow ? 0 : 1); }

  // The listener's streams on all workers are counted only when max_streams
  // bounds them: otherwise no line is written by every core for every stream.
  void stream_opened() {
    if (config->max_streams) group->active.fetch_add(1, std::memory_order_relaxed);
  }
  void stream_closed() {
    if (config->max_streams) group->active.fetch_sub(1, std::memory_order_relaxed);
  }
  bool full() const {
    return config->max_streams && group->active.load(std::memory_order_relaxed) >= config->max_streams;
  }
};

}  // namespace ugate

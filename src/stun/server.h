#pragma once
// `protocol: stun`: the STUN server's sockets (RFC 8489 over UDP and TCP on
// one port; RFC 5780's four UDP sockets when `other_address` is set). Each
// worker binds its own SO_REUSEPORT sockets, as a udp listener does; the
// answers are decided by answer() (binding.h), which holds no state, so the
// workers share nothing but the options.
#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <deque>
#include <memory>
#include <optional>

#include "base/metric_registry.h"
#include "base/stats.h"
#include "listener/listener_slot.h"
#include "runtime/worker.h"
#include "stun/binding.h"
#include "stun/turn.h"

namespace ugate::stun {

// One worker's counts for one listener: outcomes by transport.
struct Counters {
  std::array<std::array<Counter, static_cast<size_t>(Outcome::kCount)>, static_cast<size_t>(Transport::kCount)> by;
  void count(Transport t, Outcome o) { by[static_cast<size_t>(t)][static_cast<size_t>(o)].add(); }
};

// One STUN listener across the workers; the gate owns it (it outlives them)
// and fills `options` once the primary socket's port is known.
struct StunListener {
  StunListener(const ListenerConfig& c, size_t workers);
  const ListenerConfig* config;
  ServerOptions options;
  std::vector<std::unique_ptr<Counters>> by_worker;
  // With a `turn:` section: what the workers' TURN servers share, and their counts.
  std::unique_ptr<TurnShared> turn;
  std::vector<std::unique_ptr<TurnCounters>> turn_by_worker;
  // With `tls:`: the TCP port speaks TLS (server_tls.h).
  std::unique_ptr<boost::asio::ssl::context> tls;
};

// The listener's address as STUN carries it, and back.
Address to_stun(const asio::ip::address& ip, uint16_t port);
asio::ip::udp::endpoint to_udp(const Address& a);

// A worker's UDP side: the sockets by Origin (only [kPrimary] without RFC 5780).
using UdpSockets = std::array<std::optional<asio::ip::udp::socket>, 4>;
std::unique_ptr<DatagramListener> make_udp_server(Worker& worker, ListenerSlot& slot, StunListener& listener,
                                                  UdpSockets sockets);

// The TCP side: messages framed by their length, answered in order, until
// the client closes, idle_timeout passes, or a frame is not STUN.
asio::awaitable<void> stun_tcp_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from);

// ugate_stun_messages_total{listener, transport, outcome}; the TURN families (turn_metrics.cc).
void register_stun_metrics(MetricRegistry& r, const std::deque<StunListener>& listeners);
void register_turn_metrics(MetricRegistry& r, const std::deque<StunListener>& listeners);

}  // namespace ugate::stun

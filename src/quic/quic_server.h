#pragma once
// `protocol: quic` (UDP, BASE+7): HBONE over HTTP/3 with the node's identity.
// Each worker binds its own SO_REUSEPORT socket, as a udp or stun listener
// does, and keeps its QUIC connections by connection ID. The kernel hashes a
// client's address and port to one worker, so every packet of a connection
// reaches the worker that holds it as long as the client's address stays the
// same; a migrated client (new address or port) may land on another worker,
// which does not know it and drops the packet (counted): routing by
// connection ID across workers (eBPF, or a hand-over) comes with migration.
// Each CONNECT stream goes to the HBONE door the gate set on the worker's
// Mesh, exactly as a stream of the mesh port does.
#include <array>
#include <boost/asio/ip/udp.hpp>
#include <deque>
#include <memory>
#include <vector>

#include "base/metric_registry.h"
#include "base/stats.h"
#include "listener/listener_slot.h"
#include "quic/tls_credentials.h"

namespace ugate {
class Worker;
}

namespace ugate::quic {

// Why a datagram was dropped before any connection took it.
enum class Drop : uint8_t {
  kNotQuic,            // not a QUIC packet header
  kUnknownConnection,  // a short header (or a long one other than Initial) for no connection here
  kVersion,            // a version we do not speak: answered with Version Negotiation
  kRefused,            // no new connection now: draining, too many handshakes, memory watermark, set-up failed
  kCount
};
std::string_view to_string(Drop d);

// One worker's counts for one listener.
struct Counters {
  std::array<Counter, static_cast<size_t>(Handshake::kCount)> handshakes;
  std::array<Counter, static_cast<size_t>(Drop::kCount)> drops;
  Counter connections;  // open now
};

// One QUIC listener across the workers; the gate owns it (it outlives them).
struct QuicListener {
  QuicListener(const ListenerConfig& c, size_t workers);
  const ListenerConfig* config;
  std::vector<std::unique_ptr<Counters>> by_worker;
  std::array<uint8_t, 32> reset_secret;  // stateless reset tokens (RFC 9000 10.3.2): random per process
};

std::unique_ptr<DatagramListener> make_quic_server(Worker& worker, ListenerSlot& slot, QuicListener& listener,
                                                   asio::ip::udp::socket socket);

// ugate_quic_handshakes_total{listener, outcome}, ugate_quic_packets_dropped_total{listener, reason},
// ugate_quic_connections{listener}.
void register_quic_metrics(MetricRegistry& r, const std::deque<QuicListener>& listeners);

}  // namespace ugate::quic

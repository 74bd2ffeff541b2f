#include "quic/quic_server.h"

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <unordered_map>

#include "identity/mesh_identity.h"
#include "mesh/hbone_server.h"
#include "mesh/mesh.h"
#include "quic/h3_connection.h"
#include "runtime/spawn.h"
#include "runtime/worker.h"

namespace ugate::quic {

std::string_view to_string(Drop d) {
  switch (d) {
    case Drop::kNotQuic: return "not_quic";
    case Drop::kUnknownConnection: return "unknown_connection";
    case Drop::kVersion: return "version";
    case Drop::kRefused: return "refused";
    case Drop::kCount: break;
  }
  return "unknown";
}

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr unsigned kBurst = 64;            // datagrams in a row before other work runs
// Handshakes in progress on one worker: each holds a TLS session, and before a client proves
// anything (no Retry yet) a flood of Initials must not grow memory without bound.
constexpr size_t kMaxHandshaking = 1024;

// Counted always; logged once per outcome per process, so a flood cannot flood the log.
template <typename E>
bool first_time(E e) {
  static std::array<std::atomic<bool>, static_cast<size_t>(E::kCount)> said{};
  return !said[static_cast<size_t>(e)].exchange(true);
}

TcpEndpoint tcp_of(const Udp::endpoint& ep) { return {ep.address(), ep.port()}; }

class QuicServer final : public DatagramListener, private ConnectionHost {
 public:
  QuicServer(Worker& worker, ListenerSlot& slot, QuicListener& listener, Udp::socket socket)
      : worker_(worker), slot_(slot), listener_(listener), counters_(*listener.by_worker[worker.index()]),
        socket_(std::move(socket)), local_(socket_.local_endpoint()), in_(kMaxDatagram),
        budget_(worker.mesh() ? worker.mesh()->shared_send_budget() : std::make_shared<h2::SendBudget>(worker.context())) {
    socket_.non_blocking(true);
  }
  // After the drain: what is still open is closed with CONNECTION_CLOSE, so its peers need not
  // wait for their idle timeout.
  ~QuicServer() override {
    destroying_ = true;
    for (auto& [c, owned] : conns_) c->shut_down();
    conns_.clear();
  }

  void start() override {
    spawn(worker_.context().get_executor(), receive_loop(), "listener " + slot_.config->name + ": quic");
  }
  // Drain: no new connections; the open ones carry their streams until those end (the drain's
  // deadline aborts the rest).
  void stop() override { stopping_ = true; }

 private:
  asio::awaitable<void> receive_loop() {
    for (;;) {
      auto [ec] = co_await socket_.async_wait(Udp::socket::wait_read, use_nothrow);
      if (ec) co_return;  // the listener is gone
      for (unsigned i = 0; i < kBurst; ++i) {
        Udp::endpoint from;
        error_code rec;
        size_t n = socket_.receive_from(asio::buffer(in_), from, 0, rec);
        if (rec == asio::error::would_block) break;
        if (rec) continue;  // an ICMP error for an earlier packet
        slot_.stats.packets_up.add();  // (bytes are the tunnels', counted by their sessions)
        handle(std::span<const uint8_t>(in_.data(), n), from);
      }
    }
  }

  void handle(std::span<const uint8_t> packet, const Udp::endpoint& from) {
    ngtcp2_version_cid vc;
    int rv = ngtcp2_pkt_decode_version_cid(&vc, packet.data(), packet.size(), kCidLength);
    if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
      negotiate_version(vc, from);
      return;
    }
    if (rv != 0) {
      drop(Drop::kNotQuic, from);
      return;
    }
    auto it = by_cid_.find(std::string_view(reinterpret_cast<const char*>(vc.dcid), vc.dcidlen));  // no copy
    if (it != by_cid_.end()) {
      it->second->on_packet(packet, local_, from);
      return;
    }
    ngtcp2_pkt_hd hd;
    if (ngtcp2_accept(&hd, packet.data(), packet.size()) != 0) {
      drop(Drop::kUnknownConnection, from);
      return;
    }
    accept(hd, packet, from);
  }

  void accept(const ngtcp2_pkt_hd& hd, std::span<const uint8_t> packet, const Udp::endpoint& from) {
    if (stopping_ || handshaking_ >= kMaxHandshaking || (slot_.group->memory && slot_.group->memory->over())) {
      drop(Drop::kRefused, from);
      return;
    }
    auto credentials = current_credentials();
    if (!credentials) {
      drop(Drop::kRefused, from);
      return;
    }
    ConnectionOptions options;
    options.handshake_timeout = slot_.config->handshake_timeout;
    ConnectionHost& host = *this;
    auto owned = std::make_unique<H3Connection>(H3Connection::Role::kServer, host, worker_.context(), worker_.buffers(), budget_, std::move(credentials),
                                                options);
    H3Connection* c = owned.get();
    conns_.emplace(c, std::move(owned));
    counters_.connections.add();
    ++handshaking_;
    if (!c->accept(hd, local_, from, packet)) {
      drop(Drop::kRefused, from);
      if (conns_.count(c)) on_closed(*c);
    }
  }

  // The node's identity as GnuTLS credentials, made again when it was renewed.
  std::shared_ptr<const Credentials> current_credentials() {
    if (!slot_.auth || !slot_.auth->identity) return nullptr;
    auto state = slot_.auth->identity->state();
    if (state != state_) {
      try {
        credentials_ = std::make_shared<const Credentials>(*state->id);
        state_ = std::move(state);
      } catch (const std::exception& e) {
        if (first_time(Drop::kRefused)) spdlog::error("listener {}: {}", slot_.config->name, e.what());
        return nullptr;
      }
    }
    return credentials_;
  }

  void negotiate_version(const ngtcp2_version_cid& vc, const Udp::endpoint& from) {
    counters_.drops[static_cast<size_t>(Drop::kVersion)].add();
    std::array<uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> buf;
    uint32_t versions[] = {NGTCP2_PROTO_VER_V1};
    uint8_t unused = 0;
    gnutls_rnd(GNUTLS_RND_NONCE, &unused, 1);
    ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(buf.data(), buf.size(), unused, vc.scid, vc.scidlen,
                                                          vc.dcid, vc.dcidlen, versions, 1);
    if (n > 0) send(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)), from);
  }

  void drop(Drop why, const Udp::endpoint& from) {
    counters_.drops[static_cast<size_t>(why)].add();
    if (first_time(why))
      spdlog::warn("listener {}: QUIC datagram from {} dropped: {} (counted in ugate_quic_packets_dropped_total{{reason=\"{}\"}})",
                   slot_.config->name, format_endpoint(tcp_of(from)), to_string(why), to_string(why));
  }

  // --- ConnectionHost
  void bind_cid(const std::string& cid, H3Connection& c) override { by_cid_[cid] = &c; }
  void unbind_cid(const std::string& cid) override { by_cid_.erase(cid); }

  void send(std::span<const uint8_t> packet, const Udp::endpoint& to) override {
    error_code ec;
    socket_.send_to(asio::buffer(packet.data(), packet.size()), to, 0, ec);
    if (ec) return;  // a full socket buffer: QUIC's loss recovery sends it again
    slot_.stats.packets_down.add();
  }

  void on_request(H3Connection& c, std::unique_ptr<H3Stream> stream, std::unique_ptr<h2::Message> msg) override {
    Mesh* mesh = worker_.mesh();
    if (!mesh || !mesh->hbone_door()) {
      stream->respond(503);
      return;
    }
    stream->meta().alpn = "h3";
    mesh->hbone_door()(worker_, slot_, {std::move(stream), std::move(msg), tcp_of(c.remote()), c.peer(), "h3"});
  }

  void on_handshake(H3Connection& c, Handshake outcome, const std::string& detail) override {
    --handshaking_;
    counters_.handshakes[static_cast<size_t>(outcome)].add();
    if (outcome == Handshake::kAccepted) {
      spdlog::debug("listener {}: QUIC connection from {} ({})", slot_.config->name, format_endpoint(tcp_of(c.remote())),
                    c.peer() ? c.peer()->spiffe_id : "");
      return;
    }
    if (first_time(outcome))
      spdlog::warn("listener {}: QUIC handshake from {} refused: {} (counted in ugate_quic_handshakes_total{{outcome=\"{}\"}})",
                   slot_.config->name, format_endpoint(tcp_of(c.remote())), detail, to_string(outcome));
  }

  void on_closed(H3Connection& c) override {
    if (destroying_) return;  // the destructor frees them all
    auto it = conns_.find(&c);
    if (it == conns_.end()) return;
    std::unique_ptr<H3Connection> owned = std::move(it->second);
    conns_.erase(it);
    if (!c.handshake_over()) --handshaking_;  // ended before it reported (set-up failed)
    counters_.connections.sub();
    worker_.retire(*owned.release());  // destroyed once the current handler is done
  }

  std::span<const uint8_t> reset_secret() const override { return listener_.reset_secret; }

  Worker& worker_;
  ListenerSlot& slot_;
  QuicListener& listener_;
  Counters& counters_;
  Udp::socket socket_;
  Udp::endpoint local_;
  std::vector<uint8_t> in_;
  std::shared_ptr<h2::SendBudget> budget_;  // the worker's, with its HTTP/2 connections
  std::unordered_map<H3Connection*, std::unique_ptr<H3Connection>> conns_;
  // Looked up by a view of each datagram's destination ID (transparent: no string made per datagram).
  struct CidHash {
    using is_transparent = void;
    size_t operator()(std::string_view cid) const { return std::hash<std::string_view>{}(cid); }
  };
  std::unordered_map<std::string, H3Connection*, CidHash, std::equal_to<>> by_cid_;
  std::shared_ptr<const MeshIdentity::State> state_;
  std::shared_ptr<const Credentials> credentials_;
  size_t handshaking_ = 0;  // connections whose handshake has not ended yet
  bool stopping_ = false;
  bool destroying_ = false;
};

}  // namespace

QuicListener::QuicListener(const ListenerConfig& c, size_t workers) : config(&c) {
  for (size_t i = 0; i < workers; ++i) by_worker.push_back(std::make_unique<Counters>());
  gnutls_rnd(GNUTLS_RND_KEY, reset_secret.data(), reset_secret.size());
}

std::unique_ptr<DatagramListener> make_quic_server(Worker& worker, ListenerSlot& slot, QuicListener& listener,
                                                   asio::ip::udp::socket socket) {
  return std::make_unique<QuicServer>(worker, slot, listener, std::move(socket));
}

namespace {

// A counter family by the values of enum E, summed over the workers.
template <typename E, size_t N>
void add_by_value(MetricRegistry& r, const char* name, const char* help, const char* label_name,
                  const std::deque<QuicListener>& listeners, std::array<Counter, N> Counters::*member) {
  r.add(name, MetricType::kCounter, help, [&listeners, label_name, member](MetricSamples& s) {
    for (const auto& l : listeners)
      for (size_t i = 0; i < N; ++i) {
        uint64_t total = 0;
        for (const auto& c : l.by_worker) total += ((*c).*member)[i].get();
        s.add(label("listener", l.config->name) + "," + label(label_name, to_string(static_cast<E>(i))), total);
      }
  });
}

}  // namespace

void register_quic_metrics(MetricRegistry& r, const std::deque<QuicListener>& listeners) {
  if (listeners.empty()) return;
  add_by_value<Handshake>(r, "ugate_quic_handshakes_total",
                          "QUIC handshakes on quic listeners, by outcome (accepted, or why refused).", "outcome",
                          listeners, &Counters::handshakes);
  add_by_value<Drop>(r, "ugate_quic_packets_dropped_total", "QUIC datagrams no connection took, by reason.", "reason",
                     listeners, &Counters::drops);
  r.add("ugate_quic_connections", MetricType::kGauge, "QUIC connections open now (handshaking included).",
        [&listeners](MetricSamples& s) {
          for (const auto& l : listeners) {
            uint64_t total = 0;
            for (const auto& c : l.by_worker) total += c->connections.get();
            s.add(label("listener", l.config->name), total);
          }
        });
}

}  // namespace ugate::quic

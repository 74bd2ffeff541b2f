#include "stun/server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>
#include <functional>
#include <unordered_map>
#include <vector>

#include "base/stream.h"
#include "listener/answering_connection.h"
#include "runtime/original_dst.h"
#include "runtime/spawn.h"
#include "stun/turn_relay.h"

namespace ugate::stun {
namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr unsigned kBurst = 32;          // datagrams in a row before other work runs
constexpr size_t kMaxMessage = 65536 + kHeaderSize;  // the length field's limit, and a little

// A refused or dropped message is counted always and logged once per outcome
// per process, so a flood of bad input cannot flood the log.
void note(const ListenerSlot& slot, Transport t, const Answer& a) {
  static std::array<std::atomic<bool>, static_cast<size_t>(Outcome::kCount)> said{};
  if (a.outcome == Outcome::kSuccess || said[static_cast<size_t>(a.outcome)].exchange(true)) return;
  spdlog::warn("listener {}: STUN {} from {}: {}{} (counted in ugate_stun_messages_total{{outcome=\"{}\"}})",
               slot.config->name, to_string(t), format_endpoint({to_udp(a.to).address(), a.to.port}), a.detail,
               a.bytes.empty() ? ", dropped" : ", answered " + std::to_string(answer_code(a.outcome)),
               to_string(a.outcome));
}

Address source_of(const asio::ip::address& ip, uint16_t port) { return to_stun(unmapped(ip), port); }

// A TURN refusal or drop: counted by turn.cc, logged here once per code or reason per process.
void note(const ListenerSlot& slot, Transport t, const ClientKey& client, const TurnResult& r) {
  static std::array<std::atomic<bool>, static_cast<size_t>(Refusal::kCount)> refused{};
  static std::array<std::atomic<bool>, static_cast<size_t>(TurnDrop::kCount)> dropped{};
  if (r.kind == TurnResult::kRefused && !refused[static_cast<size_t>(r.refusal)].exchange(true))
    spdlog::warn("listener {}: TURN over {} from {}: {}, answered {} (counted in ugate_turn_refusals_total)",
                 slot.config->name, to_string(t), format_endpoint({to_udp(client.source).address(), client.source.port}),
                 r.detail, code_of(r.refusal));
  if (r.kind == TurnResult::kDropped && !r.detail.empty() && !dropped[static_cast<size_t>(r.drop)].exchange(true))
    spdlog::warn("listener {}: TURN over {} from {}: {}, dropped (counted in ugate_turn_dropped_total{{reason=\"{}\"}})",
                 slot.config->name, to_string(t), format_endpoint({to_udp(client.source).address(), client.source.port}),
                 r.detail, to_string(r.drop));
}

// The address to send to from a socket: a dual-stack socket reaches IPv4 as mapped.
asio::ip::udp::endpoint reachable(const asio::ip::udp::socket& socket, const Address& a) {
  asio::ip::udp::endpoint to = to_udp(a);
  error_code ec;
  auto local = socket.local_endpoint(ec);
  if (!ec && local.address().is_v6() && to.address().is_v4())
    to = {asio::ip::make_address_v6(asio::ip::v4_mapped, to.address().to_v4()), to.port()};
  return to;
}

class UdpServer final : public DatagramListener {
 public:
  UdpServer(Worker& worker, ListenerSlot& slot, StunListener& listener, UdpSockets sockets)
      : worker_(worker), slot_(slot), listener_(listener), counters_(*listener.by_worker[worker.index()]),
        sockets_(std::move(sockets)), in_(kMaxMessage), expiry_(worker.context()) {
    for (auto& s : sockets_)
      if (s) s->non_blocking(true);
    if (listener.turn) {
      const TurnConfig& c = listener.turn->config;
      relay_ports_.emplace(worker.context(), to_udp(listener.turn->relay_ip).address(), c.relay_port_min, c.relay_port_max);
      turn_.emplace(*listener.turn, *listener.turn_by_worker[worker.index()],
                    [this](uint64_t id, bool even) { return relay_ports_->open(*turn_, id, even); },
                    [this](const ClientKey& client, std::span<const uint8_t> bytes) { return to_client(client, bytes); });
    }
  }

  void start() override {
    for (Origin o = 0; o < sockets_.size(); ++o)
      if (sockets_[o]) spawn(worker_.context().get_executor(), receive_loop(o), "listener " + slot_.config->name + ": stun");
    if (turn_) arm_expiry();
  }
  void stop() override {
    error_code ignored;
    for (auto& s : sockets_)
      if (s) s->cancel(ignored);
    expiry_.cancel();
    if (turn_) turn_->clear();
  }
  StunListener& listener() { return listener_; }
  TurnServer* turn() { return turn_ ? &*turn_ : nullptr; }

  // TURN's TCP clients: the door registers each connection's writer while it runs.
  using TcpWriter = std::function<bool(std::span<const uint8_t>)>;
  void add_tcp_client(const ClientKey& client, TcpWriter w) { tcp_clients_[client] = std::move(w); }
  void remove_tcp_client(const ClientKey& client) {
    tcp_clients_.erase(client);
    if (turn_) turn_->remove(client);
  }

 private:
  asio::awaitable<void> receive_loop(Origin on) {
    asio::ip::udp::socket& socket = *sockets_[on];
    for (;;) {
      auto [ec] = co_await socket.async_wait(asio::ip::udp::socket::wait_read, use_nothrow);
      if (ec) co_return;  // stopped
      for (unsigned i = 0; i < kBurst; ++i) {
        asio::ip::udp::endpoint from;
        error_code rec;
        size_t n = socket.receive_from(asio::buffer(in_), from, 0, rec);
        if (rec == asio::error::would_block) break;
        if (rec) continue;  // an ICMP error for an earlier answer
        handle(on, std::span<const uint8_t>(in_.data(), n), from);
      }
    }
  }

  void handle(Origin on, std::span<const uint8_t> datagram, const asio::ip::udp::endpoint& from) {
    slot_.stats.packets_up.add();
    if (turn_ && on == kPrimary && for_turn(datagram)) {
      ClientKey client{Transport::kUdp, source_of(from.address(), from.port())};
      note(slot_, Transport::kUdp, client, turn_->from_client(client, datagram, monotonic_ms(), wall_ms()));
      return;
    }
    Answer a = answer(listener_.options, {datagram, Transport::kUdp, source_of(from.address(), from.port()), on});
    counters_.count(Transport::kUdp, a.outcome);
    note(slot_, Transport::kUdp, a);
    if (a.bytes.empty()) return;
    asio::ip::udp::socket& out = sockets_[a.from] ? *sockets_[a.from] : *sockets_[on];
    error_code ec;
    out.send_to(asio::buffer(a.bytes), reachable(out, a.to), 0, ec);
    if (!ec) slot_.stats.packets_down.add();
  }

  bool to_client(const ClientKey& client, std::span<const uint8_t> bytes) {
    if (client.transport == Transport::kTcp) {
      auto it = tcp_clients_.find(client);
      return it != tcp_clients_.end() && it->second(bytes);
    }
    asio::ip::udp::socket& out = *sockets_[kPrimary];
    error_code ec;
    out.send_to(asio::buffer(bytes.data(), bytes.size()), reachable(out, client.source), 0, ec);
    if (!ec) slot_.stats.packets_down.add();
    return !ec;
  }

  // Once a second: allocations, permissions and channels past their lifetime end.
  void arm_expiry() {
    expiry_.expires_after(std::chrono::seconds(1));
    expiry_.async_wait([this](error_code ec) {
      if (ec) return;
      turn_->expire(monotonic_ms());
      arm_expiry();
    });
  }

  Worker& worker_;
  ListenerSlot& slot_;
  StunListener& listener_;
  Counters& counters_;
  UdpSockets sockets_;
  std::vector<uint8_t> in_;
  asio::steady_timer expiry_;
  std::optional<UdpRelayPorts> relay_ports_;
  std::optional<TurnServer> turn_;  // after relay_ports_: its relays go first
  std::unordered_map<ClientKey, TcpWriter, ClientKeyHash> tcp_clients_;
};

// What goes to a TCP client: answers, and TURN's relayed data, which arrives
// while the door reads. Queued (bounded) and written by a chain of callbacks
// that holds this, and the socket in it, until the last write ends.
class TcpOut : public std::enable_shared_from_this<TcpOut> {
 public:
  static constexpr size_t kMaxQueued = 256 * 1024;  // beyond: dropped, as a congested UDP path would
  TcpOut(asio::io_context& context, ListenerSlot& slot) : socket(context), slot_(slot) {}
  asio::ip::tcp::socket socket;
  std::optional<asio::ssl::stream<asio::ip::tcp::socket&>> tls;  // TURN over TLS: both ways go through it

  bool send(std::span<const uint8_t> bytes) {
    if (closed_ || queued_.size() + bytes.size() > kMaxQueued) return false;
    queued_.insert(queued_.end(), bytes.begin(), bytes.end());
    if (!writing_) flush();
    return true;
  }
  void close() {
    closed_ = true;
    error_code ignored;
    socket.close(ignored);
  }

 private:
  void flush() {
    writing_ = true;
    writing_bytes_.swap(queued_);
    queued_.clear();
    auto done = [self = shared_from_this()](error_code ec, size_t n) {
      self->writing_ = false;
      self->slot_.stats.bytes_down.add(n);
      if (ec) return self->close();
      if (!self->closed_ && !self->queued_.empty()) self->flush();
    };
    if (tls) asio::async_write(*tls, asio::buffer(writing_bytes_), std::move(done));
    else asio::async_write(socket, asio::buffer(writing_bytes_), std::move(done));
  }

  ListenerSlot& slot_;
  std::vector<uint8_t> queued_, writing_bytes_;
  bool writing_ = false, closed_ = false;
};

// TURN over TLS: the handshake within the listener's handshake_timeout. A
// failure is counted by the caller (not_stun) and logged here once per process.
asio::awaitable<bool> tls_handshake(Worker& worker, ListenerSlot& slot, TcpOut& out, asio::ssl::context& context,
                                    const ClientKey& client) {
  static std::atomic<bool> said{false};
  out.tls.emplace(out.socket, context);
  asio::steady_timer guard(worker.context());
  guard.expires_after(slot.config->handshake_timeout);
  guard.async_wait([&out](error_code ec) {
    if (!ec) out.close();  // ends the handshake
  });
  auto [ec] = co_await out.tls->async_handshake(asio::ssl::stream_base::server, use_nothrow);
  guard.cancel();
  if (!ec) co_return true;
  if (!said.exchange(true))
    spdlog::warn("listener {}: TLS handshake from {} failed: {} (counted in ugate_stun_messages_total{{transport=\"tcp\","
                 "outcome=\"not_stun\"}})",
                 slot.config->name, format_endpoint({to_udp(client.source).address(), client.source.port}), ec.message());
  out.close();
  co_return false;
}

}  // namespace

StunListener::StunListener(const ListenerConfig& c, size_t workers) : config(&c) {
  for (size_t i = 0; i < workers; ++i) by_worker.push_back(std::make_unique<Counters>());
}

Address to_stun(const asio::ip::address& ip, uint16_t port) {
  Address a;
  a.port = port;
  if (ip.is_v4()) {
    auto b = ip.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), a.ip.begin());
  } else {
    a.family = 2;
    auto b = ip.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), a.ip.begin());
  }
  return a;
}

asio::ip::udp::endpoint to_udp(const Address& a) {
  if (a.family == 1) {
    asio::ip::address_v4::bytes_type b;
    std::copy_n(a.ip.begin(), 4, b.begin());
    return {asio::ip::address_v4(b), a.port};
  }
  asio::ip::address_v6::bytes_type b;
  std::copy_n(a.ip.begin(), 16, b.begin());
  return {asio::ip::address_v6(b), a.port};
}

std::unique_ptr<DatagramListener> make_udp_server(Worker& worker, ListenerSlot& slot, StunListener& listener,
                                                  UdpSockets sockets) {
  return std::make_unique<UdpServer>(worker, slot, listener, std::move(sockets));
}

asio::awaitable<void> stun_tcp_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from) {
  auto* udp = dynamic_cast<UdpServer*>(slot.datagram.get());  // the listener's UDP side holds what both share
  auto out = std::make_shared<TcpOut>(worker.context(), slot);
  error_code ec;
  out->socket.assign(from.source.protocol(), fd, ec);
  if (ec || !udp) {  // (its place among max_streams is from.admission, held while this runs)
    if (!ec) out->socket.close(ec);
    else ::close(fd);
    co_return;
  }
  AnsweringConnection connection(worker, slot, out->socket, "stun");
  StunListener& listener = udp->listener();
  Counters& counters = *listener.by_worker[worker.index()];
  const ClientKey client{Transport::kTcp, source_of(from.source.address(), from.source.port())};
  if (listener.tls) {
    bool shaken = co_await tls_handshake(worker, slot, *out, *listener.tls, client);
    if (!shaken) {
      counters.count(Transport::kTcp, Outcome::kNotStun);
      co_return;
    }
  }
  TurnServer* turn = udp->turn();
  if (turn) udp->add_tcp_client(client, [out](std::span<const uint8_t> bytes) { return out->send(bytes); });
  std::vector<uint8_t> in(kMaxMessage);
  size_t have = 0;
  for (;;) {
    auto frame = next_frame(std::span<const uint8_t>(in.data(), have));
    // ChannelData needs a TURN allocation: without TURN its header (or an HTTP request's "GET ") is not ours.
    const bool stray_channel_data = frame && frame->kind == FrameKind::kChannelData && !turn;
    if (frame && !stray_channel_data && have >= frame->size) {
      std::span<const uint8_t> bytes(in.data(), frame->size);
      if (turn && for_turn(bytes)) {
        note(slot, Transport::kTcp, client, turn->from_client(client, bytes, monotonic_ms(), wall_ms()));
      } else {
        Answer a = answer(listener.options, {bytes, Transport::kTcp, client.source});
        counters.count(Transport::kTcp, a.outcome);
        note(slot, Transport::kTcp, a);
        if (!a.bytes.empty()) out->send(a.bytes);
      }
      std::copy(in.begin() + static_cast<std::ptrdiff_t>(frame->size), in.begin() + static_cast<std::ptrdiff_t>(have),
                in.begin());
      have -= frame->size;
      connection.touch();
      continue;
    }
    if (stray_channel_data || (!frame && !frame.need_more())) {
      // Not STUN (nor TURN's ChannelData): the stream cannot be resynchronised.
      Answer a{Outcome::kNotStun, {}, kPrimary, client.source, "the stream is not STUN messages; closed"};
      counters.count(Transport::kTcp, a.outcome);
      note(slot, Transport::kTcp, a);
      break;
    }
    auto room = asio::buffer(in.data() + have, in.size() - have);
    error_code rec;
    size_t n = 0;
    if (out->tls) std::tie(rec, n) = co_await out->tls->async_read_some(room, use_nothrow);
    else std::tie(rec, n) = co_await out->socket.async_read_some(room, use_nothrow);
    if (rec) break;  // closed, reset, or aborted (idle, drain)
    have += n;
    slot.stats.bytes_up.add(n);
    connection.touch();
  }
  if (turn) udp->remove_tcp_client(client);  // and its allocation
  out->close();
}

void register_stun_metrics(MetricRegistry& r, const std::deque<StunListener>& listeners) {
  if (listeners.empty()) return;
  r.add("ugate_stun_messages_total", MetricType::kCounter,
        "STUN messages received, by transport and outcome (success, the error answered, or why dropped).",
        [&listeners](MetricSamples& s) {
          for (const auto& l : listeners) {
            for (size_t t = 0; t < static_cast<size_t>(Transport::kCount); ++t) {
              for (size_t o = 0; o < static_cast<size_t>(Outcome::kCount); ++o) {
                uint64_t total = 0;
                for (const auto& c : l.by_worker) total += c->by[t][o].get();
                s.add(label("listener", l.config->name) + "," + label("transport", to_string(static_cast<Transport>(t))) +
                          "," + label("outcome", to_string(static_cast<Outcome>(o))),
                      total);
              }
            }
          }
        });
  r.add("ugate_stun_errors_total", MetricType::kCounter, "STUN error answers, by code (both transports).",
        [&listeners](MetricSamples& s) {
          for (const auto& l : listeners) {
            for (Outcome o : {Outcome::kBadRequest, Outcome::kUnauthorized, Outcome::kUnknownAttribute}) {
              uint64_t total = 0;
              for (const auto& c : l.by_worker)
                for (const auto& by_transport : c->by) total += by_transport[static_cast<size_t>(o)].get();
              s.add(label("listener", l.config->name) + "," + label("code", std::to_string(answer_code(o))), total);
            }
          }
        });
}

}  // namespace ugate::stun

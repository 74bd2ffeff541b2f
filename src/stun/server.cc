#include "stun/server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/stream.h"
#include "runtime/original_dst.h"
#include "runtime/spawn.h"

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

class UdpServer final : public DatagramListener {
 public:
  UdpServer(Worker& worker, ListenerSlot& slot, StunListener& listener, UdpSockets sockets)
      : worker_(worker), slot_(slot), listener_(listener), counters_(*listener.by_worker[worker.index()]),
        sockets_(std::move(sockets)), in_(kMaxMessage) {
    for (auto& s : sockets_)
      if (s) s->non_blocking(true);
  }

  void start() override {
    for (Origin o = 0; o < sockets_.size(); ++o)
      if (sockets_[o]) spawn(worker_.context().get_executor(), receive_loop(o), "listener " + slot_.config->name + ": stun");
  }
  void stop() override {
    error_code ignored;
    for (auto& s : sockets_)
      if (s) s->cancel(ignored);
  }
  StunListener& listener() { return listener_; }

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
    Answer a = answer(listener_.options, {datagram, Transport::kUdp, source_of(from.address(), from.port()), on});
    counters_.count(Transport::kUdp, a.outcome);
    note(slot_, Transport::kUdp, a);
    if (a.bytes.empty()) return;
    asio::ip::udp::socket& out = sockets_[a.from] ? *sockets_[a.from] : *sockets_[on];
    asio::ip::udp::endpoint to = to_udp(a.to);
    if (from.address().is_v6() && to.address().is_v4())  // a dual-stack socket answers IPv4 as mapped
      to = {asio::ip::make_address_v6(asio::ip::v4_mapped, to.address().to_v4()), to.port()};
    error_code ec;
    out.send_to(asio::buffer(a.bytes), to, 0, ec);
    if (!ec) slot_.stats.packets_down.add();
  }

  Worker& worker_;
  ListenerSlot& slot_;
  StunListener& listener_;
  Counters& counters_;
  UdpSockets sockets_;
  std::vector<uint8_t> in_;
};

// A TCP connection while its coroutine runs: idle deadline, drain, /debug/streams.
class Connection final : public Tracked {
 public:
  Connection(Worker& worker, ListenerSlot& slot, asio::ip::tcp::socket& socket) : worker_(worker), slot_(slot), socket_(socket) {
    slot_.stats.accepted.add();
    slot_.stats.active.add();
    worker.track(*this);
    start_ = worker.now_tick();
    touch();
  }
  ~Connection() override {
    slot_.stats.active.sub();
    slot_.stats.closed.add();
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void touch() { deadline_ = worker_.now_tick() + Worker::ticks(slot_.config->idle_timeout); }
  void on_tick(uint32_t now) override {
    if (static_cast<int32_t>(now - deadline_) >= 0) abort(CloseReason::kIdleTimeout);
  }
  void abort(CloseReason) override {
    error_code ignored;
    socket_.close(ignored);  // ends the read
  }
  void describe(nlohmann::json& out, uint32_t now) const override {
    out["listener"] = slot_.config->name;
    out["phase"] = "stun";
    out["age_ms"] = static_cast<uint64_t>(now - start_) * Worker::kTick.count();
  }

 private:
  Worker& worker_;
  ListenerSlot& slot_;
  asio::ip::tcp::socket& socket_;
  uint32_t start_ = 0, deadline_ = 0;
};

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
  asio::ip::tcp::socket socket(worker.context());
  error_code ec;
  socket.assign(from.source.protocol(), fd, ec);
  if (ec || !udp) {  // (its place among max_streams is from.admission, held while this runs)
    if (!ec) socket.close(ec);
    else ::close(fd);
    co_return;
  }
  Connection connection(worker, slot, socket);
  StunListener& listener = udp->listener();
  Counters& counters = *listener.by_worker[worker.index()];
  Address source = source_of(from.source.address(), from.source.port());
  std::vector<uint8_t> in(kMaxMessage);
  size_t have = 0;
  for (;;) {
    auto frame = next_frame(std::span<const uint8_t>(in.data(), have));
    if (frame && frame->kind == FrameKind::kStun && have >= frame->size) {
      Answer a = answer(listener.options, {std::span<const uint8_t>(in.data(), frame->size), Transport::kTcp, source});
      counters.count(Transport::kTcp, a.outcome);
      note(slot, Transport::kTcp, a);
      std::copy(in.begin() + static_cast<std::ptrdiff_t>(frame->size), in.begin() + static_cast<std::ptrdiff_t>(have),
                in.begin());
      have -= frame->size;
      if (a.bytes.empty()) continue;
      auto [wec, written] = co_await asio::async_write(socket, asio::buffer(a.bytes), use_nothrow);
      if (wec) break;
      slot.stats.bytes_down.add(written);
      connection.touch();
      continue;
    }
    if (!frame.need_more() && !(frame && frame->kind == FrameKind::kStun)) {
      // Not STUN (or ChannelData, which needs a TURN allocation): the stream cannot be resynchronised.
      Answer a{Outcome::kNotStun, {}, kPrimary, source, "the stream is not STUN messages; closed"};
      counters.count(Transport::kTcp, a.outcome);
      note(slot, Transport::kTcp, a);
      break;
    }
    auto [rec, n] = co_await socket.async_read_some(asio::buffer(in.data() + have, in.size() - have), use_nothrow);
    if (rec) break;  // closed, reset, or aborted (idle, drain)
    have += n;
    slot.stats.bytes_up.add(n);
    connection.touch();
  }
  error_code ignored;
  socket.close(ignored);
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

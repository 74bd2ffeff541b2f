#include "core/session.h"

#include <nlohmann/json.hpp>

#include "io/proxy.h"
#include "io/tcp_stream.h"

namespace ugate {
namespace {

std::atomic<uint64_t> next_stream_id{1};

std::string_view phase_name(int p) {
  static constexpr std::string_view names[] = {"routing", "connecting", "proxying", "closed"};
  return names[p];
}

}  // namespace

Session::Session(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> downstream)
    : worker_(worker), slot_(slot), down_(std::move(downstream)), up_socket_(worker.context()) {
  slot_.stats.active.add();
  slot_.active_total->fetch_add(1, std::memory_order_relaxed);
  last_active_ = worker_.now_tick();
  worker_.track(*this);
}

Session::~Session() {
  StreamMeta& m = meta();
  if (aborted_ != CloseReason::kDone) m.reason = aborted_;
  slot_.stats.closed_by_reason[static_cast<size_t>(m.reason)].add();
  slot_.stats.closed.add();
  slot_.stats.active.sub();
  slot_.active_total->fetch_sub(1, std::memory_order_relaxed);
  worker_.access_log().record(m);
}

void Session::fail(CloseReason reason) {
  meta().reason = reason;
  down_->reset();
  phase_ = Phase::kClosed;
}

asio::awaitable<void> Session::forward_to(const HostPort& destination) {
  StreamMeta& m = meta();
  m.destination = destination;
  phase_ = Phase::kConnecting;
  connect_deadline_ = worker_.now_tick() + Worker::ticks(slot_.config->connect_timeout);

  Endpoints endpoints = co_await worker_.dialer().resolve(destination);
  CloseReason result = endpoints.empty() ? CloseReason::kResolveFailed : CloseReason::kDone;
  if (aborted_ == CloseReason::kDone && result == CloseReason::kDone)
    result = co_await Dialer::connect(endpoints, up_socket_, m.upstream);
  if (aborted_ != CloseReason::kDone) result = aborted_;
  if (result != CloseReason::kDone) {
    // The client learns at once, with a reset as the upstream gave us.
    fail(result);
    up_socket_.close();
    co_return;
  }

  prepare_proxied_socket(up_socket_);
  up_ = std::make_unique<TcpStream>(std::move(up_socket_), down_->shared_meta());
  phase_ = Phase::kProxying;
  last_active_ = worker_.now_tick();
  ProxyContext ctx{worker_.buffers(), worker_.pipes(), slot_.config->splice, worker_.now_tick(), last_active_,
                   slot_.stats};
  m.reason = co_await proxy(*down_, *up_, ctx);
  phase_ = Phase::kClosed;
  down_->close();
  up_->close();
}

void Session::on_tick(uint32_t now) {
  if (phase_ == Phase::kConnecting && static_cast<int32_t>(now - connect_deadline_) >= 0) {
    abort(CloseReason::kConnectTimeout);
  } else if (phase_ == Phase::kProxying && now - last_active_ >= Worker::ticks(slot_.config->idle_timeout)) {
    abort(CloseReason::kIdleTimeout);
  }
}

void Session::abort(CloseReason reason) {
  if (aborted_ != CloseReason::kDone || phase_ == Phase::kClosed) return;
  aborted_ = reason;
  // Closing cancels whatever the session is waiting on; it then finishes by itself.
  if (up_) up_->close();
  else up_socket_.close();
  down_->close();
}

void Session::describe(nlohmann::json& out, uint32_t now_tick) const {
  const StreamMeta& m = down_->meta();
  auto age = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - m.start_mono);
  out = {{"id", m.id},
         {"listener", m.listener},
         {"protocol", m.protocol},
         {"phase", phase_name(static_cast<int>(phase_))},
         {"src", m.source},
         {"dst", m.destination.port ? m.destination.str() : ""},
         {"upstream", m.upstream},
         {"mode", to_string(m.mode)},
         {"age_ms", age.count()},
         {"idle_ms", static_cast<uint64_t>(now_tick - last_active_) * Worker::kTick.count()},
         {"bytes_up", m.bytes_up},
         {"bytes_down", m.bytes_down}};
}

asio::awaitable<void> tcp_forward_door(Worker& worker, ListenerSlot& slot, asio::ip::tcp::socket socket) {
  auto meta = std::make_shared<StreamMeta>();
  meta->id = next_stream_id.fetch_add(1, std::memory_order_relaxed);
  meta->listener = slot.config->name;
  meta->protocol = slot.config->protocol;
  meta->start = std::chrono::system_clock::now();
  meta->start_mono = std::chrono::steady_clock::now();
  error_code ec;
  auto peer = socket.remote_endpoint(ec);
  if (!ec) meta->source = format_endpoint(peer);
  prepare_proxied_socket(socket);

  Session session(worker, slot, std::make_unique<TcpStream>(std::move(socket), meta));
  const Route* route = slot.config->router.match("", slot.config->address.port);
  if (!route) {
    session.fail(CloseReason::kNoRoute);
    co_return;
  }
  co_await session.forward_to(route->forward);
}

}  // namespace ugate

#include "session/session.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "policy/listener_auth.h"
#include "codec/proxy_protocol.h"
#include "transport/stream_wait.h"
#include "upstream/connector.h"
#include "transport/tcp_stream.h"

namespace ugate {
namespace {

std::string_view phase_name(int p) {
  static constexpr std::string_view names[] = {"routing", "sniffing", "handshaking", "connecting", "awaiting_answer", "proxying", "closed"};
  return names[p];
}

}  // namespace

std::unique_ptr<Session> Session::create(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> downstream,
                                         Admission admission) {
  return std::unique_ptr<Session>(new Session(worker, slot, std::move(downstream), std::move(admission)));
}

Session::Session(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> downstream, Admission admission)
    : worker_(worker), slot_(slot), admission_(std::move(admission)), down_(std::move(downstream)) {
  slot_.stats.active.add();
  last_active_ = worker_.now_tick();
  worker_.track(*this);
}

Session::~Session() {
  if (handed_over_) {
    slot_.stats.active.sub();
    return;
  }
  StreamMeta& m = meta();
  if (aborted_ != CloseReason::kDone) m.reason = aborted_;
  slot_.stats.closed_by_reason[static_cast<size_t>(m.reason)].add();
  slot_.stats.closed.add();
  slot_.stats.active.sub();
  if (!exchanges_ || exchange_open_) worker_.access_log().record(m);
}

void Session::begin_exchange() {
  StreamMeta& m = meta();
  exchanges_ = exchange_open_ = true;
  m.start = std::chrono::system_clock::now();
  m.start_mono = std::chrono::steady_clock::now();
  m.bytes_up = m.bytes_down = 0;
  m.reason = CloseReason::kDone;
}

void Session::end_exchange(CloseReason result) {
  StreamMeta& m = meta();
  m.reason = result;
  worker_.access_log().record(m);
  m.reason = CloseReason::kDone;  // the connection itself goes on
  exchange_open_ = false;
}

std::unique_ptr<Stream> Session::hand_over() {
  handed_over_ = true;
  phase_ = Phase::kClosed;
  admission_ = Admission();  // a connection of streams now (HBONE), each admitted on its own
  return std::move(down_);
}

void Session::close_upstream() {
  if (up_) up_->close();
  up_.reset();
}

void Session::fail(CloseReason reason) {
  meta().reason = reason;
  down_->reset();
  phase_ = Phase::kClosed;
}

asio::awaitable<CloseReason> Session::dial(HostPort destination, bool answers) {
  StreamMeta& m = meta();
  close_upstream();
  m.destination = std::move(destination);
  m.upstream = {};
  answers_ = answers;
  dial_expired_ = false;
  enter_timed_phase(Phase::kConnecting, slot_.config->connect_timeout);
  given_up_ = false;
  CloseReason result = authorize();
  if (result == CloseReason::kDone) {
    ConnectRequest request{m.destination, down_->shared_meta(), slot_.config->via, admin_guard(), &given_up_};
    request.own_addresses_only = own_addresses_only_;
    request.wants_local = answers;
    Connected connected = co_await worker_.connector().connect(request, up_);
    result = connected.result;
    up_local_ = connected.local;
    if (result == CloseReason::kNotAllowed)
      spdlog::debug("{}: {} is this node's admin port: refused (set reach_admin on the listener to allow)",
                    slot_.config->name, m.destination.str());
    if (result == CloseReason::kEgressDenied)
      spdlog::debug("{}: {} is not this node's: refused (set egress: true on the listener to relay)",
                    slot_.config->name, m.destination.str());
  }
  if (dial_expired_) result = CloseReason::kConnectTimeout;
  if (aborted_ != CloseReason::kDone) result = aborted_;
  if (result != CloseReason::kDone) close_upstream();
  co_return result;
}

asio::awaitable<void> Session::forward(std::unique_ptr<Session> self, HostPort destination, ForwardOptions options) {
  Session& s = *self;
  StreamMeta& m = s.meta();
  s.own_addresses_only_ = options.own_addresses_only;
  CloseReason result = co_await s.dial(std::move(destination), static_cast<bool>(options.reply));
  const bool answers_failure = options.reply && result != CloseReason::kDone;
  if (s.aborted_ == CloseReason::kDone && options.reply) {
    DialOutcome outcome{result, m.upstream, result == CloseReason::kDone ? s.up_local_ : TcpEndpoint{}};
    std::string answer = options.reply(outcome);
    error_code ec = co_await write_all(*s.down_, answer);
    if (ec && result == CloseReason::kDone) result = CloseReason::kDownstreamReset;
  }
  if (result == CloseReason::kDone && s.slot_.config->proxy_protocol) {
    std::string header = proxy_v2_header(original_source(m), m.upstream, m.peer_spiffe());
    error_code ec = co_await write_all(*s.up_, header);
    if (ec) result = CloseReason::kUpstreamReset;
  }
  if (result == CloseReason::kDone && !options.replay.empty()) {
    error_code ec = co_await write_all(*s.up_, options.replay);
    if (ec) result = CloseReason::kUpstreamReset;
    m.bytes_up += options.replay.size();  // the client's bytes, whoever carried them
    s.slot_.stats.bytes_up.add(options.replay.size());
  }
  if (s.aborted_ != CloseReason::kDone) result = s.aborted_;
  if (result != CloseReason::kDone) {
    // The client learns at once: from the door's answer to a failed dial,
    // else (no answer, or a break after a success answer) with a reset.
    answers_failure && s.aborted_ == CloseReason::kDone ? s.finish(result) : s.fail(result);
    s.close_upstream();
    co_return;
  }

  s.phase_ = Phase::kProxying;
  s.last_active_ = s.worker_.now_tick();
  ProxyContext ctx{s.worker_.context(), s.worker_.buffers(), s.worker_.pipes(), s.slot_.config->splice,
                   s.worker_.now_tick(), s.last_active_, s.slot_.stats};
  s.proxy_.emplace(*s.down_, *s.up_, ctx, s);
  self.release()->proxy_->start();  // from here the session owns itself (see proxy_done)
}

CloseReason Session::authorize() {
  const ListenerAuth* auth = slot_.auth;
  if (!auth || !auth->authz) return CloseReason::kDone;
  StreamMeta& m = meta();
  auto identity = auth->identity ? auth->identity->state() : nullptr;
  AuthzRequest request{m.protocol, m.listener, m.peer_spiffe(), m.peer_node(), m.unix_peer ? &*m.unix_peer : nullptr,
                       m.destination.host, m.destination.port, m.sni,
                       identity ? std::string_view(identity->id->trust_domain) : ""};
  AuthzDecision d = auth->authz->decide(request);
  slot_.count(d);
  m.authz_rule = auth->authz->rule_name(d);
  m.authz_allowed = d.allow;
  return d.allow ? CloseReason::kDone : CloseReason::kDenied;
}

// The admin server's address, for a listener whose clients name the
// destination: the connector refuses it (reach_admin lifts that).
const TcpEndpoint* Session::admin_guard() const {
  const auto& admin = worker_.admin_endpoint();
  const ListenerConfig& l = *slot_.config;
  if (!admin || l.reach_admin || !l.is(kClientNamesDestination)) return nullptr;
  return &*admin;
}

void Session::finish(CloseReason reason) {
  meta().reason = reason;
  down_->shutdown_write();  // the answer, then FIN
  down_->close();
  phase_ = Phase::kClosed;
}

void Session::proxy_done(CloseReason reason) {
  meta().reason = reason;
  phase_ = Phase::kClosed;
  down_->close();
  up_->close();
  worker_.retire(*this);
}

void Session::on_tick(uint32_t now) {
  if (phase_ == Phase::kSniffing && static_cast<int32_t>(now - deadline_) >= 0) {
    abort(CloseReason::kSniffTimeout);
  } else if (phase_ == Phase::kHandshaking && static_cast<int32_t>(now - deadline_) >= 0) {
    abort(CloseReason::kTlsTimeout);
  } else if (phase_ == Phase::kConnecting && static_cast<int32_t>(now - deadline_) >= 0) {
    if (answers_ && !dial_expired_) {
      // Give up the dial (closing the socket ends its wait) but keep the
      // client, which is owed an answer; the grace bounds the answer too.
      dial_expired_ = given_up_ = true;
      if (up_) up_->close();
      deadline_ = now + Worker::ticks(kAnswerGrace);
    } else {
      abort(CloseReason::kConnectTimeout);
    }
  } else if (phase_ == Phase::kAwaitingAnswer && static_cast<int32_t>(now - deadline_) >= 0) {
    if (!answer_expired_) {
      answer_expired_ = true;  // as for a dial: end the wait, keep the client for the answer
      if (up_) up_->close();
      deadline_ = now + Worker::ticks(kAnswerGrace);
    } else {
      abort(CloseReason::kResponseTimeout);
    }
  } else if (phase_ == Phase::kProxying &&
             now - last_active_ >= (relay_idle_ticks_ ? relay_idle_ticks_ : Worker::ticks(slot_.config->idle_timeout))) {
    abort(CloseReason::kIdleTimeout);
  }
}

void Session::abort(CloseReason reason) {
  if (aborted_ != CloseReason::kDone || phase_ == Phase::kClosed) return;
  aborted_ = reason;
  given_up_ = true;
  // Closing cancels whatever the session is waiting on; it then finishes by
  // itself. An idle stream has nothing in flight and closes cleanly; any other
  // cut (drain, connect timeout) may lose bytes, so the peers get a reset.
  if (up_) reason == CloseReason::kIdleTimeout ? up_->close() : up_->reset();
  reason == CloseReason::kIdleTimeout ? down_->close() : down_->reset();
}

void Session::describe(nlohmann::json& out, uint32_t now_tick) const {
  describe_meta(down_->meta(), phase_name(static_cast<int>(phase_)),
                static_cast<uint64_t>(now_tick - last_active_) * Worker::kTick.count(), out);
}

void Session::start_meta(StreamMeta& meta, ListenerSlot& slot, TcpEndpoint peer) {
  meta.id = new_stream_id();
  meta.listener = slot.config->name;
  meta.protocol = to_string(slot.config->protocol);
  meta.start = std::chrono::system_clock::now();
  meta.start_mono = std::chrono::steady_clock::now();
  meta.source = peer;
}

std::unique_ptr<TcpStream> Session::accepted_stream(Worker& worker, ListenerSlot& slot, int fd,
                                                    const AcceptedFrom& from) {
  auto meta = std::make_shared<StreamMeta>();
  start_meta(*meta, slot, from.source);  // TCP_NODELAY came with the socket from its listener (open_listen_socket)
  meta->original_dst = from.original_dst;
  meta->unix_peer = from.unix_peer;
  return std::make_unique<TcpStream>(fd, worker.poller(), std::move(meta));
}

void Session::start_sniffing(Duration timeout) { enter_timed_phase(Phase::kSniffing, timeout); }
TlsStream* Session::accept_tls(SSL_CTX* ctx) {
  if (!ctx || dynamic_cast<TlsStream*>(down_.get())) return nullptr;  // TLS once only
  auto tls = TlsStream::create(down_, ctx, TlsStream::Role::kServer, worker_.context());
  TlsStream* layered = tls.get();
  if (tls) down_ = std::move(tls);
  return layered;
}

void Session::start_handshake(Duration timeout) { enter_timed_phase(Phase::kHandshaking, timeout); }

void Session::start_relaying(Duration idle_timeout) {
  relay_idle_ticks_ = Worker::ticks(idle_timeout);
  phase_ = Phase::kProxying;
  active();
}

void Session::await_answer(Duration timeout) {
  answer_expired_ = false;
  enter_timed_phase(Phase::kAwaitingAnswer, timeout);
}

void Session::enter_timed_phase(Phase phase, Duration limit) {
  phase_ = phase;
  deadline_ = worker_.now_tick() + Worker::ticks(limit);
}

}  // namespace ugate

#include "mesh/reverse.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "crypto/pem.h"
#include "identity/registration_token.h"
#include "identity/spiffe.h"
#include "base/owned_fd.h"
#include "transport/local_pair.h"
#include "transport/proxy.h"
#include "transport/stream_wait.h"
#include "runtime/tracked.h"
#include "transport/tcp_stream.h"
#include "mesh/hbone_server.h"
#include "mesh/mesh.h"

namespace ugate {
namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
// A registration that lasted this long was a success: the backoff starts again.
constexpr std::chrono::seconds kStable{10};

// ---- gateway ------------------------------------------------------------------

// The gateway's side of a reverse connection: an HTTP/2 client session over
// the node's TLS stream, registered while it lasts.
class ReverseConnection final : public Mesh::Connection {
 public:
  ReverseConnection(Mesh& mesh, std::unique_ptr<Stream> tls) : Connection(mesh, tls->meta().source) {
    const StreamMeta& m = tls->meta();
    auto spiffe = parse_spiffe_id(m.peer_spiffe());
    ReverseRegistry::Entry e;
    e.node_id = m.peer_node();
    e.spiffe_id = m.peer_spiffe();
    e.name = spiffe ? spiffe->name() : "";
    e.peer = m.source;
    e.owner = &mesh;
    name_ = e.name.empty() ? e.spiffe_id : e.name;
    serial_ = mesh.shared().registry.add(std::move(e));
    mesh.add_reverse(serial_, *this);
    spdlog::info("remote accept: node {} ({}) registered from {}", name_, m.peer_spiffe(), format_endpoint(m.source));
    Worker& w = mesh.worker();
    session_ = std::make_unique<h2::H2Session>(h2::H2Session::Role::kClient, std::move(tls), w.context(), w.buffers(),
                                               mesh.send_budget(), mesh.settings(), mesh.lasting_timing(), *this);
  }
  ~ReverseConnection() override { unregister(); }  // also when the mesh ends without on_closed

  void on_request(h2::H2Session&, std::unique_ptr<h2::H2Stream>) override {}  // a client is never asked
  void on_closed(h2::H2Session& session) override {
    unregister();
    spdlog::info("remote accept: node {} left ({})", name_, session.end_summary());
    Connection::on_closed(session);  // retires this
  }

 private:
  void unregister() {
    if (!serial_) return;
    mesh_.shared().registry.remove(serial_);
    mesh_.remove_reverse(serial_);
    serial_ = 0;
  }
  uint64_t serial_ = 0;
  std::string name_;
};

// On the worker that holds a node's reverse connection: carries a stream
// that began on another worker, which holds the other end of a local socket
// pair. The first byte back is how the CONNECT went (a CloseReason), then the
// bytes both ways. Tracked, so drain and shutdown reach it; the access log
// line is the other worker's. It owns itself and retires when it ends.
class Bridge final : public Tracked, public ProxyOwner {
 public:
  Bridge(Mesh& mesh, int fd, std::shared_ptr<LocalPairResets> resets, uint64_t serial, HostPort authority,
         Pool::Fields headers)
      : mesh_(mesh), serial_(serial), authority_(std::move(authority)), headers_(std::move(headers)),
        meta_(std::make_shared<StreamMeta>()) {
    meta_->id = new_stream_id();
    meta_->protocol = to_string(Protocol::kMesh);
    meta_->destination = authority_;
    side_ = std::make_unique<LocalPairStream>(std::make_unique<TcpStream>(fd, mesh.worker().poller(), meta_),
                                              std::move(resets), 1);
    last_active_ = mesh.worker().now_tick();
    mesh.worker().track(*this);
  }

  asio::awaitable<void> run();

  void on_tick(uint32_t) override {}  // the other worker's session keeps the deadlines
  void abort(CloseReason) override {
    aborted_ = true;
    side_->reset();
    if (up_) up_->reset();
  }
  void describe(nlohmann::json& out, uint32_t) const override {
    out = {{"id", meta_->id}, {"phase", proxy_ ? "proxying" : "connecting"}, {"bridge", authority_.str()}};
  }
  void proxy_done(CloseReason) override {
    side_->close();
    up_->close();
    mesh_.worker().retire(*this);
  }

 private:
  Mesh& mesh_;
  uint64_t serial_;
  HostPort authority_;
  Pool::Fields headers_;
  std::shared_ptr<StreamMeta> meta_;
  std::unique_ptr<LocalPairStream> side_;
  std::unique_ptr<Stream> up_;
  std::optional<Proxy> proxy_;
  uint32_t last_active_ = 0;
  bool aborted_ = false;
};

asio::awaitable<void> Bridge::run() {
  CloseReason result = CloseReason::kNodeUnavailable;
  Mesh::Connection* c = mesh_.reverse(serial_);
  if (c && c->session().usable()) {
    auto stream = Pool::connect_stream(mesh_.worker().context(), meta_, authority_, std::move(headers_));
    h2::H2Stream& h = *stream;
    up_ = std::move(stream);
    if (c->session().open(h)) {
      mesh_.stats().streams_opened.add();
      result = co_await Pool::answer(h, *meta_);
    }
  }
  const char status = static_cast<char>(result);
  error_code ec = co_await write_all(*side_, std::string_view(&status, 1));
  if (result != CloseReason::kDone || ec || aborted_) {
    side_->close();
    if (up_) up_->close();
    mesh_.worker().retire(*this);
    co_return;
  }
  mesh_.stats().bridged.add();
  Worker& w = mesh_.worker();
  ProxyContext ctx{w.context(), w.buffers(), w.pipes(), false, w.now_tick(), last_active_, mesh_.bridge_stats()};
  proxy_.emplace(*side_, *up_, ctx, *this);
  proxy_->start();  // from here proxy_done() ends it
}

}  // namespace

void accept_reverse(Worker& worker, std::unique_ptr<Stream> tls) {
  Mesh& mesh = *worker.mesh();
  mesh.adopt(std::make_unique<ReverseConnection>(mesh, std::move(tls)), true);
}

asio::awaitable<CloseReason> connect_reverse(Worker& worker, const ReverseRegistry::Entry& entry,
                                             const std::shared_ptr<StreamMeta>& meta, HostPort authority,
                                             Pool::Fields headers, std::unique_ptr<Stream>& up) {
  Mesh& here = *worker.mesh();
  if (entry.owner == &here) {
    Mesh::Connection* c = here.reverse(entry.serial);
    if (!c || !c->session().usable()) co_return CloseReason::kNodeUnavailable;
    auto stream = Pool::connect_stream(worker.context(), meta, authority, std::move(headers));
    h2::H2Stream& h = *stream;
    up = std::move(stream);
    if (!c->session().open(h)) co_return CloseReason::kNodeUnavailable;
    here.stats().streams_opened.add();
    CloseReason r = co_await Pool::answer(h, *meta);
    if (r == CloseReason::kDone) meta->upstream = entry.peer;
    co_return r;
  }
  // The connection lives on another worker: a socket pair to a bridge there.
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) co_return CloseReason::kOverload;
  auto resets = std::make_shared<LocalPairResets>();
  auto near =
      std::make_unique<LocalPairStream>(std::make_unique<TcpStream>(pair[0], worker.poller(), meta), resets, 0);
  TcpStream& n = near->socket();
  up = std::move(near);
  Mesh* owner = entry.owner;
  asio::post(owner->worker().context(), [owner, far = OwnedFd(pair[1]), resets = std::move(resets),
                                         serial = entry.serial, authority, headers = std::move(headers)]() mutable {
    auto* bridge =
        new Bridge(*owner, far.release(), std::move(resets), serial, std::move(authority), std::move(headers));
    owner->worker().spawn(bridge->run());
  });
  char status = 0;
  for (;;) {
    error_code ec;
    size_t got = n.try_read(asio::buffer(&status, 1), ec);
    if (!ec && got == 1) break;
    if (ec != asio::error::would_block) co_return CloseReason::kNodeUnavailable;  // the bridge is gone
    ec = co_await wait_readable(n);
    if (ec) co_return CloseReason::kConnectTimeout;  // closed by the caller: its deadline
  }
  auto r = static_cast<CloseReason>(static_cast<uint8_t>(status));
  if (r >= CloseReason::kCount) co_return CloseReason::kNodeUnavailable;
  if (r == CloseReason::kDone) meta->upstream = entry.peer;
  co_return r;
}

// ---- node ---------------------------------------------------------------------

Registrar::Registrar(Mesh& mesh, const NodeConfig& gateway, ListenerSlot& slot, const RemoteAcceptConfig& config)
    : mesh_(mesh), gateway_(gateway), slot_(slot), config_(config), timer_(mesh.worker().context()) {
  mesh.worker().spawn(run());
}

Registrar::~Registrar() = default;

void Registrar::stop() {
  stopped_ = true;
  if (dial_) dial_->abort();
  timer_.cancel();
}

Duration Registrar::backoff(unsigned failures) {
  static thread_local std::minstd_rand rng{std::random_device{}()};
  double d = static_cast<double>(config_.backoff_min.count());
  for (unsigned i = 0; i < failures && d < static_cast<double>(config_.backoff_max.count()); ++i) d *= 2;
  d = std::min(d, static_cast<double>(config_.backoff_max.count()));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);  // nodes that lost one gateway do not return in step
  return Duration(static_cast<int64_t>(d * jitter(rng)));
}

asio::awaitable<void> Registrar::run() {
  unsigned failures = 0;
  while (!stopped_) {
    // A node whose certificate is not from the mesh CA registers by token
    // (h2rt): the file is read at every connect, so a renewed token is used.
    std::string token, unreadable;
    if (!config_.token_file.empty()) {
      try {
        token = read_file(config_.token_file);
        while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
      } catch (const AuthError& e) {
        unreadable = e.what();
      }
      if (token.empty() && unreadable.empty()) unreadable = config_.token_file + ": empty";
    }
    if (!unreadable.empty()) {
      if (std::exchange(last_, CloseReason::kTokenRejected) != CloseReason::kTokenRejected)
        spdlog::warn("remote accept: token {}; retrying with backoff", unreadable);
      timer_.expires_after(backoff(failures++));
      co_await timer_.async_wait(use_nothrow);
      continue;
    }
    auto dial = std::make_shared<Pool::Dial>(mesh_.worker().context(), token.empty() ? "h2r" : "h2rt");
    dial_ = dial;
    MeshPath path{{gateway_}, gateway_.address};
    CloseReason result = co_await mesh_.pool().establish(path, dial);
    dial_.reset();
    if (stopped_) break;
    if (result == CloseReason::kDone && !token.empty()) {
      std::string line = token_line(token);
      error_code ec = co_await write_all(*dial->transport, line);
      if (ec) result = CloseReason::kUpstreamReset;
    }
    if (result == CloseReason::kDone) {
      spdlog::info("remote accept: registered with gateway {} at {}{}", gateway_.name, gateway_.address.str(),
                   token.empty() ? "" : " (by token)");
      last_ = CloseReason::kDone;
      auto started = std::chrono::steady_clock::now();
      connected_ = true;
      serve_hbone_lasting(mesh_.worker(), slot_, std::move(dial->transport), [this] {
        connected_ = false;
        timer_.cancel();
      });
      while (connected_ && !stopped_) {
        timer_.expires_at(asio::steady_timer::time_point::max());
        co_await timer_.async_wait(use_nothrow);
      }
      if (stopped_) break;
      if (std::chrono::steady_clock::now() - started >= kStable) failures = 0;
      spdlog::info("remote accept: the connection to gateway {} ended; reconnecting", gateway_.name);
    } else if (std::exchange(last_, result) != result) {
      spdlog::warn("remote accept: cannot register with gateway {} at {}: {}{}{}; retrying with backoff",
                   gateway_.name, gateway_.address.str(), to_string(result), dial->detail.empty() ? "" : ": ",
                   dial->detail);
    }
    timer_.expires_after(backoff(failures++));
    co_await timer_.async_wait(use_nothrow);
  }
}

}  // namespace ugate

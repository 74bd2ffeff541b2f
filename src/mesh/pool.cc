#include "mesh/pool.h"

#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>

#include "identity/mesh_identity.h"
#include "identity/tls_context.h"
#include "transport/tcp_connect.h"
#include "transport/stream_wait.h"
#include "transport/tls_stream.h"
#include "mesh/hbone_status.h"
#include "mesh/mesh.h"

namespace ugate {

Pool::Dial::Dial(asio::io_context& io, std::string a) : timer(io), alpn(std::move(a)) {}
Pool::Dial::~Dial() = default;

void Pool::Dial::abort() {
  aborted = true;
  timer.cancel();
  if (transport) transport->close();
}

class Pool::Connection final : public Mesh::Connection {
 public:
  Connection(Mesh& mesh, Pool& pool, Entry& entry, std::unique_ptr<Stream> transport, TcpEndpoint peer)
      : Mesh::Connection(mesh, peer), pool_(pool), entry_(&entry) {
    Worker& w = mesh.worker();
    session_ = std::make_unique<h2::H2Session>(h2::H2Session::Role::kClient, std::move(transport), w.context(),
                                               w.buffers(), mesh.send_budget(), mesh.settings(), mesh.timing(), *this);
  }

  void on_request(h2::H2Session&, std::unique_ptr<h2::H2Stream>) override {}  // a client is never asked
  void on_stream_end(h2::H2Session&) override {
    if (entry_) pool_.place(*entry_);  // room for a waiting stream
  }
  void on_closed(h2::H2Session& session) override {
    if (entry_) pool_.detach(*this);
    Mesh::Connection::on_closed(session);  // retires this
  }

  Pool& pool_;
  Entry* entry_;  // null once detached
};

// One step of a dial (the TCP connect, the TLS handshake) gets `limit`.
void Pool::arm(const std::shared_ptr<Dial>& dial, Duration limit) {
  dial->timer.expires_after(limit);
  dial->timer.async_wait([dial](const error_code& ec) {
    if (ec || !dial->transport) return;  // cancelled: the step ended in time
    dial->expired = true;
    dial->transport->close();
  });
}

Pool::~Pool() {
  // The mesh deleted its connections already (they are in its list too).
  // A dial still running must not come back to us.
  for (auto& [key, e] : entries_) {
    if (e->dial) e->dial->aborted = true;
  }
}

Pool::Entry& Pool::entry(const MeshPath& path) {
  std::string key = path.connection_key();
  auto& slot = entries_[key];
  if (!slot) {
    slot = std::make_unique<Entry>();
    slot->key = std::move(key);
    slot->path = path;
  }
  return *slot;
}

Pool::Entry* Pool::find(const std::string& key) {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : it->second.get();
}

std::unique_ptr<h2::H2Stream> Pool::connect_stream(asio::io_context& io, const std::shared_ptr<StreamMeta>& meta,
                                                   const HostPort& authority, Fields headers) {
  auto stream = std::make_unique<h2::H2Stream>(io, meta);
  auto pending = std::make_unique<h2::H2Stream::Pending>();
  pending->authority = authority.str();
  pending->headers = std::move(headers);
  stream->set_pending(std::move(pending));
  return stream;
}

asio::awaitable<CloseReason> Pool::connect(const MeshPath& path, const std::shared_ptr<StreamMeta>& meta,
                                           Fields headers, std::unique_ptr<Stream>& up) {
  if (mesh_.draining()) co_return CloseReason::kDrained;
  if (!identity_) co_return CloseReason::kConnectFailed;  // the gate loads one whenever nodes are configured
  auto stream = connect_stream(mesh_.worker().context(), meta, path.authority, std::move(headers));
  h2::H2Stream& s = *stream;
  up = std::move(stream);
  Entry& e = entry(path);
  e.waiting.push_back(*s.pending());
  place(e);
  co_return co_await answer(s, *meta);
}

asio::awaitable<CloseReason> Pool::answer(h2::H2Stream& s, StreamMeta& meta) {
  // The node answers once its own dial is over: 200, or why not.
  while (s.status() == 0 && !s.ended_unanswered()) {
    error_code ec = co_await wait_readable(s);
    if (ec) co_return CloseReason::kConnectTimeout;  // closed by the caller: its deadline
  }
  if (s.status() == 0) co_return close_reason_of(s.error(), CloseReason::kUpstreamReset);
  std::unique_ptr<h2::Message> response = s.take_message();  // an open tunnel keeps no headers
  if (s.status() >= 200 && s.status() < 300) {
    if (h2::H2Session* session = s.session()) meta.upstream = session->transport().meta().upstream;
    co_return CloseReason::kDone;
  }
  const std::string* status = response ? response->header("proxy-status") : nullptr;
  co_return hbone_refusal_reason(s.status(), status ? std::string_view(*status) : std::string_view());
}

void Pool::place(Entry& e) {
  const uint32_t limit = mesh_.config().streams_per_connection;
  while (!e.waiting.empty()) {
    Connection* room = nullptr;
    for (Connection* c : e.connections) {
      if (c->session().usable() && c->session().streams() < limit) {
        room = c;
        break;
      }
    }
    if (!room) break;
    h2::H2Stream& s = *e.waiting.front().stream;
    // Either way the stream's Pending goes, which takes it off the queue.
    if (room->session().open(s)) mesh_.stats().streams_opened.add();
    else s.fail(close_reason_error(CloseReason::kConnectFailed));
  }
  if (e.waiting.empty() || e.dial) return;
  if (mesh_.draining()) {
    while (!e.waiting.empty()) e.waiting.front().stream->fail(close_reason_error(CloseReason::kDrained));
    return;
  }
  e.dial = std::make_shared<Dial>(mesh_.worker().context(), "h2");
  mesh_.worker().spawn(make_connection(e.key, e.path, e.dial));
}

asio::awaitable<CloseReason> Pool::establish(const MeshPath& path, std::shared_ptr<Dial> dial) {
  CloseReason result = co_await open_transport(path, dial);
  if (result == CloseReason::kDone && !dial->aborted) {
    arm(dial, mesh_.config().connect_timeout);
    result = co_await handshake(path.hops.back(), *dial);
  }
  dial->timer.cancel();
  if (dial->aborted && result == CloseReason::kDone) result = CloseReason::kDrained;
  co_return result;
}

asio::awaitable<void> Pool::make_connection(std::string key, MeshPath path, std::shared_ptr<Dial> dial) {
  const NodeConfig& node = path.hops.back();
  CloseReason result = co_await establish(path, dial);
  if (dial->aborted) co_return;  // given up: the pool may be gone, its entry dropped or dialling anew
  Entry* found = find(key);
  if (!found || found->dial != dial) co_return;  // not this dial's entry any more
  Entry& e = *found;  // no co_await from here on
  e.dial.reset();
  bool changed = mesh_.health().record(e.key, node.name, result, dial->detail);  // logged once per change
  if (result != CloseReason::kDone) {
    mesh_.stats().dial_failed[static_cast<size_t>(result)].add();
    if (changed) {
      spdlog::warn("mesh: cannot connect to node {} ({}) at {}: {}{}{} (is its mesh port reachable?)", node.name,
                   node.id, node.address.str(), to_string(result), dial->detail.empty() ? "" : ": ", dial->detail);
    }
    // Every stream waiting for it learns why, now.
    while (!e.waiting.empty()) e.waiting.front().stream->fail(close_reason_error(result));
    erase_if_unused(e);
    co_return;
  }
  if (changed) spdlog::info("mesh: connected to node {} at {} again", node.name, node.address.str());
  std::unique_ptr<Stream> transport = std::move(dial->transport);
  TcpEndpoint peer = transport->meta().upstream;
  auto connection = std::make_unique<Connection>(mesh_, *this, e, std::move(transport), peer);
  e.connections.push_back(connection.get());
  mesh_.adopt(std::move(connection), false);
  place(e);
}

asio::awaitable<CloseReason> Pool::open_transport(const MeshPath& path, const std::shared_ptr<Dial>& dial) {
  auto meta = std::make_shared<StreamMeta>();
  meta->id = new_stream_id();
  meta->protocol = to_string(Protocol::kMesh);
  meta->destination = path.hops.back().address;
  arm(dial, mesh_.config().connect_timeout);
  CloseReason result = CloseReason::kDone;
  if (path.hops.size() > 1) {
    // Double HBONE: a CONNECT to this node's mesh port through the one before it.
    MeshPath outer = path.prefix();
    Fields none;
    result = co_await connect(outer, meta, std::move(none), dial->transport);
  } else {
    Endpoints endpoints = co_await mesh_.worker().resolver().resolve(meta->destination);
    if (endpoints.empty()) result = CloseReason::kResolveFailed;
    else if (!dial->aborted) result = co_await connect_tcp(endpoints, mesh_.worker().poller(), meta, dial->transport);
  }
  if (dial->expired && result != CloseReason::kDone) result = CloseReason::kConnectTimeout;
  co_return result;
}

asio::awaitable<CloseReason> Pool::handshake(const NodeConfig& node, Dial& dial) {
  auto state = identity_->state();  // this connection keeps these contexts
  auto tls = TlsStream::create(dial.transport, state->mesh_client.get(), TlsStream::Role::kClient,
                               mesh_.worker().context());
  if (!tls) co_return CloseReason::kOverload;
  TlsStream& t = *tls;
  t.set_alpn(std::span<const std::string>(&dial.alpn, 1));
  dial.transport = std::move(tls);
  TlsResult r = co_await t.handshake(&dial.detail);
  if (r == TlsResult::kAborted) co_return dial.expired ? CloseReason::kTlsTimeout : CloseReason::kTlsFailed;
  if (r != TlsResult::kOk) co_return r == TlsResult::kPeerRejected ? CloseReason::kCertRejected : CloseReason::kTlsFailed;
  if (t.alpn() != dial.alpn) {
    dial.detail = "the peer did not choose ALPN " + dial.alpn + ": not a ugate mesh port, or one that does not take it";
    co_return CloseReason::kTlsFailed;
  }
  PeerIdentity peer = peer_identity(t.peer_certificate());
  bool expected = is_spiffe_ref(node.id) ? peer.spiffe_id == node.id : peer.node_id == node.id;
  if (!expected) {
    dial.detail = "it proved to be " + peer.spiffe_id + " (node " + peer.node_id + ")";
    co_return CloseReason::kCertRejected;
  }
  t.meta().peer = std::make_shared<const PeerIdentity>(std::move(peer));
  co_return CloseReason::kDone;
}

void Pool::detach(Connection& c) {
  Entry& e = *c.entry_;
  c.entry_ = nullptr;
  std::erase(e.connections, &c);
  if (!e.waiting.empty()) place(e);  // they need another connection now
  else erase_if_unused(e);
}

void Pool::erase_if_unused(Entry& e) {
  if (e.connections.empty() && e.waiting.empty() && !e.dial) entries_.erase(e.key);
}

void Pool::abort_all() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = *it->second;
    // The entry forgets its dial, whose coroutine then leaves the pool alone,
    // so a later stream to the path dials afresh.
    if (e.dial) std::exchange(e.dial, nullptr)->abort();
    while (!e.waiting.empty()) e.waiting.front().stream->fail(close_reason_error(CloseReason::kDrained));
    it = e.connections.empty() ? entries_.erase(it) : std::next(it);
  }
}

}  // namespace ugate

#include "mesh/hbone_server.h"

#include <algorithm>
#include <optional>
#include <string>

#include "session/session.h"
#include "mesh/hbone_status.h"
#include "mesh/mesh.h"

namespace ugate {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

// Request header fields kept in the stream's metadata, each cut to a bound.
constexpr std::string_view kRecorded[] = {"forwarded", "baggage", "traceparent"};
constexpr size_t kMaxRecordedValue = 1024;

Fields proxy_status(const HboneAnswer& a) { return {{"proxy-status", proxy_status_value(a)}}; }

// A refused request's status: what was wrong with it, or why it cannot run.
HboneAnswer refusal(const h2::Message& req, bool full) {
  if (full) return hbone_answer(CloseReason::kOverload);
  HboneAnswer a = hbone_answer(CloseReason::kBadRequest);
  if (req.method != "CONNECT") a.status = 405;
  else if (req.too_large) a.status = 431;
  else if (!req.protocol.empty()) a.status = 501;  // extended CONNECT (RFC 8441): not a tunnel we offer
  return a;
}

class HboneServerConnection final : public Mesh::Connection {
 public:
  HboneServerConnection(Mesh& mesh, ListenerSlot& slot, std::unique_ptr<Stream> transport, const h2::Timing& timing,
                        std::function<void()> on_end)
      : Connection(mesh, transport->meta().source), slot_(slot), identity_(transport->meta().peer),
        sniffed_(transport->meta().sniffed), on_end_(std::move(on_end)) {
    Worker& w = mesh.worker();
    h2::Timing t = timing;
    t.preface_timeout = whole_seconds(slot.config->sniff_timeout);  // the client's first bytes, as on other doors
    session_ = std::make_unique<h2::H2Session>(h2::H2Session::Role::kServer, std::move(transport), w.context(),
                                               w.buffers(), mesh.send_budget(), mesh.settings(), t, *this);
  }

  void on_request(h2::H2Session&, std::unique_ptr<h2::H2Stream> stream) override;
  void on_closed(h2::H2Session& session) override {
    if (on_end_) on_end_();
    Connection::on_closed(session);  // deletes this
  }

 private:
  ListenerSlot& slot_;
  std::shared_ptr<const PeerIdentity> identity_;  // who the TLS handshake proved the peer to be (mesh port)
  std::string_view sniffed_;  // "h2c" when the auto door handed us the connection
  std::function<void()> on_end_;
};

void HboneServerConnection::on_request(h2::H2Session&, std::unique_ptr<h2::H2Stream> stream) {
  h2::H2Stream& h2 = *stream;
  std::unique_ptr<h2::Message> request = h2.take_message();  // freed at the end: an open tunnel keeps no headers
  h2::Message& req = *request;
  StreamMeta& m = h2.meta();
  Session::start_meta(m, slot_, peer_);
  m.peer = identity_;
  m.sniffed = sniffed_;
  for (const auto& [name, value] : req.headers) {
    if (std::find(std::begin(kRecorded), std::end(kRecorded), name) == std::end(kRecorded)) continue;
    m.headers.add(name, std::string_view(value).substr(0, kMaxRecordedValue));
  }
  m.headers.shrink();

  std::optional<HostPort> dest;
  if (req.method == "CONNECT" && req.protocol.empty() && !req.too_large) dest = parse_host_port(req.authority);
  const ListenerConfig& lc = *slot_.config;
  bool full = lc.max_streams && slot_.active_total->load(std::memory_order_relaxed) >= lc.max_streams;
  auto session = Session::create(mesh_.worker(), slot_, std::move(stream));
  if (!dest || full) {
    if (dest) m.destination = *dest;
    HboneAnswer a = refusal(req, full);
    h2.respond(a.status, proxy_status(a));
    session->finish(full ? CloseReason::kOverload : CloseReason::kBadRequest);
    return;
  }
  if (!allows(lc, *dest)) {  // an auto listener's allow list (hbone-h2c has none)
    m.destination = *dest;
    HboneAnswer a = hbone_answer(CloseReason::kNotAllowed);
    h2.respond(a.status, proxy_status(a));
    session->finish(CloseReason::kNotAllowed);
    return;
  }
  // 200 only once the upstream connection is up; otherwise why it is not.
  ForwardOptions options;
  options.reply = [&h2](const DialOutcome& outcome) {
    if (outcome.result == CloseReason::kDone) {
      h2.respond(200);
    } else {
      HboneAnswer a = hbone_answer(outcome.result);
      h2.respond(a.status, proxy_status(a));
    }
    return std::string();  // the answer went as HEADERS, not bytes
  };
  mesh_.worker().spawn(Session::forward(std::move(session), std::move(*dest), std::move(options)));
}

}  // namespace

void serve_hbone(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> transport) {
  Mesh& mesh = *worker.mesh();  // the gate gives every worker one
  mesh.adopt(std::make_unique<HboneServerConnection>(mesh, slot, std::move(transport), mesh.timing(), nullptr), true);
}

void serve_hbone_lasting(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> transport,
                         std::function<void()> on_closed) {
  Mesh& mesh = *worker.mesh();
  mesh.adopt(std::make_unique<HboneServerConnection>(mesh, slot, std::move(transport), mesh.lasting_timing(),
                                                     std::move(on_closed)),
             false);
}

asio::awaitable<void> hbone_h2c_door(Worker& worker, ListenerSlot& slot, int fd, TcpEndpoint peer) {
  serve_hbone(worker, slot, Session::accepted_stream(worker, slot, fd, peer));
  co_return;
}

}  // namespace ugate

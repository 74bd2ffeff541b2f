// HBONE requests become sessions: each CONNECT stream names its destination
// in :authority ("host:port"); the session dials it, and the stream is
// answered 200 only once the upstream connection is up, else 502/503/504
// with an RFC 9209 Proxy-Status saying why. Then the stream and the upstream
// are proxied both ways, half-close through END_STREAM. The request's
// Forwarded, baggage and traceparent go into the stream's metadata. On a
// node's reverse connection, a CONNECT for kHbonePort is the node's own mesh
// port, served here (mesh_tunnel_door): a caller's TLS end to end.
#include <algorithm>
#include <optional>
#include <string>

#include "doors/doors.h"
#include "mesh/hbone_server.h"
#include "mesh/hbone_status.h"
#include "mesh/mesh_config.h"
#include "session/session.h"

namespace ugate {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

// Request header fields kept in the stream's metadata, each cut to a bound.
constexpr std::string_view kRecorded[] = {"forwarded", "baggage", "traceparent"};
constexpr size_t kMaxRecordedValue = 1024;

Fields proxy_status(const HboneAnswer& a) { return {{"proxy-status", proxy_status_value(a)}}; }

// A refused request's status: what was wrong with it, or why it cannot run.
HboneAnswer refusal(const h2::Message& req, CloseReason why) {
  if (why != CloseReason::kBadRequest) return hbone_answer(why);  // not admitted
  HboneAnswer a = hbone_answer(CloseReason::kBadRequest);
  if (req.method != "CONNECT") a.status = 405;
  else if (req.too_large) a.status = 431;
  else if (!req.protocol.empty()) a.status = 501;  // extended CONNECT (RFC 8441): not a tunnel we offer
  return a;
}

}  // namespace

void hbone_door(Worker& worker, ListenerSlot& slot, HboneRequest request) {
  HboneStream& tunnel = *request.stream;
  const h2::Message& req = *request.message;
  StreamMeta& m = tunnel.meta();
  Session::start_meta(m, slot, request.peer);
  m.peer = std::move(request.identity);
  m.sniffed = request.sniffed;
  for (const auto& [name, value] : req.headers) {
    if (std::find(std::begin(kRecorded), std::end(kRecorded), name) == std::end(kRecorded)) continue;
    m.headers.add(name, std::string_view(value).substr(0, kMaxRecordedValue));
  }
  m.headers.shrink();

  std::optional<HostPort> dest;
  if (req.method == "CONNECT" && req.protocol.empty() && !req.too_large) dest = parse_host_port(req.authority);
  Result<Admission, CloseReason> admitted = slot.admit();  // each CONNECT stream is a stream of the listener
  auto session = Session::create(worker, slot, std::move(request.stream), admitted ? std::move(*admitted) : Admission());
  if (!dest || !admitted) {
    if (dest) m.destination = *dest;
    CloseReason why = admitted ? CloseReason::kBadRequest : admitted.error();
    HboneAnswer a = refusal(req, why);
    tunnel.respond(a.status, proxy_status(a));
    session->finish(why);
    return;
  }
  if (request.from_gateway && dest->port == kHbonePort) {
    // A caller behind the gateway asks for this node's mesh port: its TLS
    // comes through the tunnel, and its streams are served as the mesh
    // port's, authorized as the caller's own.
    m.destination = *dest;
    tunnel.respond(200);
    worker.spawn(mesh_tunnel_door(worker, slot, std::move(session)));
    return;
  }
  if (!allows(*slot.config, *dest)) {  // an auto listener's allow list (hbone-h2c has none)
    m.destination = *dest;
    HboneAnswer a = hbone_answer(CloseReason::kNotAllowed);
    tunnel.respond(a.status, proxy_status(a));
    session->finish(CloseReason::kNotAllowed);
    return;
  }
  // 200 only once the upstream connection is up; otherwise why it is not.
  ForwardOptions options;
  options.own_addresses_only = slot.config->is(kMeshIdentity) && !slot.config->egress;  // no open relay
  options.reply = [&tunnel](const DialOutcome& outcome) {
    if (outcome.result == CloseReason::kDone) {
      tunnel.respond(200);
    } else {
      HboneAnswer a = hbone_answer(outcome.result);
      tunnel.respond(a.status, proxy_status(a));
    }
    return std::string();  // the answer went as HEADERS, not bytes
  };
  worker.spawn(Session::forward(std::move(session), std::move(*dest), std::move(options)));
}

asio::awaitable<void> hbone_h2c_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from) {
  from.admission = Admission();  // the connection is not a stream: each CONNECT stream is admitted (hbone_door)
  serve_hbone(worker, slot, Session::accepted_stream(worker, slot, fd, from));
  co_return;
}

}  // namespace ugate

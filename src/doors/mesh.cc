#include <spdlog/spdlog.h>

#include "identity/ca_service.h"
#include "policy/listener_auth.h"
#include "identity/registration_token.h"
#include "session/session.h"
#include "doors/doors.h"
#include "doors/tls_handshake.h"
#include "transport/stream_wait.h"
#include "mesh/hbone_server.h"
#include "mesh/reverse.h"

namespace ugate {
namespace {

// POST /ca/sign: read the request (bounded, within sniff_timeout), let the
// CA answer on the control thread, write the answer, close in order.
asio::awaitable<void> serve_ca(std::unique_ptr<Session> session, TlsStream& tls, CaService& ca, Duration timeout) {
  session->start_sniffing(timeout);
  std::string bytes;
  Result<CaRequest, CaError> parsed = CaError{CaError::kNeedMore};
  char buf[4096];
  while (parsed.need_more() && bytes.size() <= kCaMaxHeader + kCaMaxBody) {
    error_code ec;
    size_t n = tls.try_read(asio::buffer(buf), ec);
    if (ec == asio::error::would_block) {
      ec = co_await wait_readable(tls);
      if (ec) break;  // closed: the deadline
      continue;
    }
    if (ec) break;
    bytes.append(buf, n);
    parsed = parse_ca_request(bytes);
  }
  if (parsed.need_more()) {
    session->fail(CloseReason::kSniffFailed);  // truncated, too long, or cut by the deadline
    co_return;
  }
  // Named values only into the coroutine call (see "Coroutines and GCC 12").
  CaResponse reply;
  if (!parsed) reply = CaResponse{http_status(parsed.error()), to_string(parsed.error())};
  if (parsed) {
    CaRequest request = std::move(*parsed);
    ossl::Cert peer;
    if (X509* cert = tls.peer_certificate()) peer = ossl::up_ref(cert);
    reply = co_await ca.handle(std::move(request), std::move(peer));
  }
  std::string response = http_response(reply);
  error_code written = co_await write_all(tls, response);
  if (written) {
    session->fail(CloseReason::kDownstreamReset);
    co_return;
  }
  session->finish(reply.status == 200 ? CloseReason::kDone : CloseReason::kDenied);
}

// h2rt: the node's certificate proved only its key. The line before HTTP/2
// carries the token that says who it is (identity/registration_token.h); read
// byte by byte, so that what follows it stays in TLS for the HTTP/2 session.
asio::awaitable<void> register_by_token(Worker& worker, std::unique_ptr<Session> session, TlsStream& tls,
                                        const RegistrationCheck& check, Duration timeout) {
  StreamMeta& m = session->meta();
  // The certificate proved its key (the node ID), not its SPIFFE ID: the token says that.
  m.peer = std::make_shared<const PeerIdentity>(PeerIdentity{"", std::string(m.peer_node())});
  session->start_sniffing(timeout);
  std::string line;
  Result<std::string, TokenError> token = TokenError{TokenError::kNeedMore};
  while (token.need_more()) {
    char c;
    error_code ec;
    size_t n = tls.try_read(asio::buffer(&c, 1), ec);
    if (ec == asio::error::would_block) {
      ec = co_await wait_readable(tls);
      if (ec) break;  // closed: the deadline
      continue;
    }
    if (ec || n == 0) break;
    line += c;
    token = parse_token_line(line);
  }
  if (token.need_more()) {
    session->fail(CloseReason::kTokenRejected);  // truncated, or cut by the deadline
    co_return;
  }
  auto granted = token ? verify_registration_token(*token, m.peer_node(), check) : token;
  if (!granted) {
    spdlog::debug("{}: registration from {} refused: {}", m.listener, format_endpoint(m.source),
                  to_string(granted.error()));
    session->fail(CloseReason::kTokenRejected);
    co_return;
  }
  m.peer = std::make_shared<const PeerIdentity>(PeerIdentity{*granted, m.peer->node_id});
  if (session->authorize() != CloseReason::kDone) {
    session->fail(CloseReason::kDenied);
    co_return;
  }
  accept_reverse(worker, session->hand_over());
}

}  // namespace

asio::awaitable<void> mesh_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from) {
  auto session =
      Session::create(worker, slot, Session::accepted_stream(worker, slot, fd, from), std::move(from.admission));
  auto identity = slot.auth->identity->state();  // this stream keeps these contexts
  TlsStream* tls = co_await accept_tls(*session, identity->mesh_server.get(), slot.config->handshake_timeout);
  if (!tls) co_return;
  StreamMeta& m = session->meta();
  // ALPN dispatch. http/1.1 on a gateway with a CA: its CSR endpoint (the
  // only thing a client without a certificate may reach).
  if (m.alpn == "http/1.1" && slot.auth->ca) {
    co_await serve_ca(std::move(session), *tls, *slot.auth->ca, slot.config->sniff_timeout);
    co_return;
  }
  if (m.alpn == "h2rt") {  // (offered only with registration_tokens; checked again: the certificate proved nothing)
    if (!slot.auth->registration) {
      session->fail(CloseReason::kTokenRejected);
      co_return;
    }
    co_await register_by_token(worker, std::move(session), *tls, *slot.auth->registration, slot.config->sniff_timeout);
    co_return;
  }
  if (m.peer_spiffe().empty()) {
    session->fail(CloseReason::kNoClientCert);
    co_return;
  }
  // HBONE: each CONNECT on the connection is a stream of its own, from the proven peer.
  if (m.alpn == "h2") {
    serve_hbone(worker, slot, session->hand_over());
    co_return;
  }
  // Reverse accept: the peer registers to take streams over this connection
  // (it serves HTTP/2, we are its client), if authorization lets it.
  if (m.alpn == "h2r") {
    if (session->authorize() != CloseReason::kDone) {
      session->fail(CloseReason::kDenied);
      co_return;
    }
    accept_reverse(worker, session->hand_over());
    co_return;
  }
  // Otherwise an mTLS-terminating forwarder: the route by the client's SNI.
  const Route* route = slot.config->router.match(m.sni, slot.config->address.port);
  if (!route) {
    session->fail(CloseReason::kNoRoute);
    co_return;
  }
  co_await Session::forward(std::move(session), route->forward);
}

asio::awaitable<void> mesh_tunnel_door(Worker& worker, ListenerSlot& slot, std::unique_ptr<Session> session) {
  auto identity = slot.auth->identity->state();
  TlsStream* tls = co_await accept_tls(*session, identity->mesh_server.get(), slot.config->handshake_timeout);
  if (!tls) co_return;
  const StreamMeta& m = session->meta();
  if (m.peer_spiffe().empty()) {
    session->fail(CloseReason::kNoClientCert);
    co_return;
  }
  if (m.alpn != "h2") {  // a CA, a registration or a forwarder is the mesh port's alone
    session->fail(CloseReason::kBadRequest);
    co_return;
  }
  serve_hbone(worker, slot, session->hand_over());
}

}  // namespace ugate

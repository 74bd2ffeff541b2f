#include "doors/tls_handshake.h"

#include <spdlog/spdlog.h>

#include "identity/tls_context.h"

namespace ugate {

asio::awaitable<TlsStream*> accept_tls(Session& session, SSL_CTX* ctx, Duration handshake_timeout) {
  TlsStream* tls = session.accept_tls(ctx);
  if (!tls) {
    session.fail(CloseReason::kOverload);
    co_return nullptr;
  }
  session.start_handshake(handshake_timeout);
  std::string detail;
  TlsResult result = co_await tls->handshake(&detail);
  StreamMeta& m = session.meta();
  if (result != TlsResult::kOk) {
    CloseReason reason = result == TlsResult::kNoPeerCert     ? CloseReason::kNoClientCert
                         : result == TlsResult::kPeerRejected ? CloseReason::kCertRejected
                                                              : CloseReason::kTlsFailed;
    // Per stream, so debug: the counters on /metrics are the signal.
    spdlog::debug("{}: TLS from {} failed: {}", m.listener, format_endpoint(m.source), detail);
    session.fail(reason);  // a deadline that cut the handshake keeps its own reason
    co_return nullptr;
  }
  m.alpn = tls->alpn();
  if (const char* sni = SSL_get_servername(tls->ssl(), TLSEXT_NAMETYPE_host_name)) m.sni = sni;
  m.peer = std::make_shared<const PeerIdentity>(peer_identity(tls->peer_certificate()));
  co_return tls;
}

}  // namespace ugate

#pragma once
// The part the TLS-terminating doors share: layer TLS over the accepted
// stream, run the handshake within handshake_timeout, record what it proved
// (ALPN, SNI, the peer's SPIFFE ID and node ID) in the stream's metadata.
#include <boost/asio/awaitable.hpp>

#include "session/session.h"
#include "transport/tls_stream.h"

namespace ugate {

// The TLS stream once the handshake succeeded; null after the session was
// failed with the counted reason (tls_failed, no_client_cert, cert_rejected,
// or the deadline's tls_timeout).
asio::awaitable<TlsStream*> accept_tls(Session& session, SSL_CTX* ctx, Duration handshake_timeout);

}  // namespace ugate

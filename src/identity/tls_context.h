#pragma once
// The TLS contexts ugate speaks with, built from a NodeIdentity or a route's
// certificate. Shared by every worker (an SSL_CTX is safe to share once built;
// each new connection takes its own reference, see ossl::SslCtx).
//
// All of them: full-size records, read-ahead into one buffer, buffers
// released while idle, partial writes, an unexpected EOF read as EOF.
#include <string>
#include <vector>

#include "crypto/ossl.h"
#include "identity/spiffe.h"
#include "base/meta.h"

namespace ugate {

struct NodeIdentity;

// The mesh port's server side: TLS 1.3 only; a client certificate that
// verifies against the identity's roots and carries a SPIFFE ID is required,
// except on ALPN http/1.1 when `certless_http1` (the CA's bootstrap
// endpoint, which then demands a token), and except on ALPN h2rt when
// `token_h2r` (reverse registration by token: any certificate, whose key the
// token must name; identity/registration_token.h). ALPN: the server's order of
// `alpn`; a client that offers none of them gets no ALPN.
ossl::SslCtx mesh_server_context(const NodeIdentity& id, const std::vector<std::string>& alpn, bool certless_http1,
                                 bool token_h2r = false);

// The mesh client side: TLS 1.3, presents the node's certificate, verifies
// the server against the roots and requires a SPIFFE ID (no host name check:
// mesh peers are named by SPIFFE ID, not DNS). ALPN and SNI are per stream.
ossl::SslCtx mesh_client_context(const NodeIdentity& id);

// A TLS-terminating server for a route (tls-sni): public_server_policy, no
// client certificate, ALPN from `alpn` (none: no ALPN).
ossl::SslCtx terminate_context(const ossl::Certs& chain, EVP_PKEY* key, const std::vector<std::string>& alpn);

// What the TLS servers that clients we did not write reach (tls-sni terminate
// routes, the push service) accept, on top of `ctx`'s own settings: TLS 1.2 or
// 1.3; in TLS 1.2 only ECDHE key exchange with AEAD ciphers (no CBC, no RSA key
// transport); the server's order of ciphers (ChaCha20 first for a client that
// lists it first: one without AES instructions); no renegotiation, no
// compression; no session tickets (TLS 1.2 resumes by session ID; tls_context.cc
// says why). docs/security/ has the testssl.sh scans that keep it so.
void public_server_policy(SSL_CTX* ctx);

// Who the verified peer is, for StreamMeta: its SPIFFE ID and, for an EC key, its node ID.
PeerIdentity peer_identity(X509* cert);

}  // namespace ugate

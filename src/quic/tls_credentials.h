#pragma once
// QUIC's TLS is GnuTLS (Debian's ngtcp2 ships only its GnuTLS crypto helper),
// so the node's identity is handed to GnuTLS here: the same certificate chain,
// key and trust roots as the mesh port's OpenSSL contexts, and the same peer
// verification (identity/peer_chain: the chain to the roots, a SPIFFE ID, an
// EC P-256 key whose node ID names the peer). Made once per identity state and
// shared by the connections that started with it, as an SSL_CTX is.
#include <gnutls/gnutls.h>

#include <memory>
#include <string_view>

#include "base/meta.h"
#include "base/result.h"
#include "identity/peer_chain.h"

namespace ugate {
struct NodeIdentity;
}

namespace ugate::quic {

// Why a handshake was refused (or that it was not), as counted.
enum class Handshake : uint8_t {
  kAccepted,       // verified peer, ALPN h3
  kNoClientCert,   // the client sent no certificate
  kCertRejected,   // its chain does not lead to the roots now, or names no SPIFFE ID, or no P-256 key
  kWrongAlpn,      // the client did not offer h3
  kTlsFailed,      // any other TLS or QUIC failure during the handshake
  kTimeout,        // not finished within the listener's handshake_timeout
  kCount
};
std::string_view to_string(Handshake h);

class Credentials {
 public:
  // Throws AuthError when GnuTLS does not take the identity.
  explicit Credentials(const NodeIdentity& id);
  ~Credentials();
  Credentials(const Credentials&) = delete;
  Credentials& operator=(const Credentials&) = delete;

  gnutls_certificate_credentials_t get() const { return cred_; }
  // The peer's chain as GnuTLS received it (DER, leaf first), judged as the mesh port judges it.
  Result<PeerIdentity, Handshake> verify(gnutls_session_t session) const;

 private:
  gnutls_certificate_credentials_t cred_ = nullptr;
  ChainVerifier verifier_;
};

}  // namespace ugate::quic

#include "quic/tls_credentials.h"

#include "crypto/pem.h"
#include "identity/identity.h"

namespace ugate::quic {

std::string_view to_string(Handshake h) {
  switch (h) {
    case Handshake::kAccepted: return "accepted";
    case Handshake::kNoClientCert: return "no_client_cert";
    case Handshake::kCertRejected: return "cert_rejected";
    case Handshake::kWrongAlpn: return "wrong_alpn";
    case Handshake::kTlsFailed: return "tls_failed";
    case Handshake::kTimeout: return "timeout";
    case Handshake::kCount: break;
  }
  return "unknown";
}

namespace {

gnutls_datum_t datum(const std::string& s) {
  return {reinterpret_cast<unsigned char*>(const_cast<char*>(s.data())), static_cast<unsigned>(s.size())};
}

}  // namespace

Credentials::Credentials(const NodeIdentity& id) : verifier_(id.roots) {
  if (gnutls_certificate_allocate_credentials(&cred_) != 0) throw AuthError("QUIC TLS: out of memory");
  const std::string chain = to_pem(id.chain), key = private_key_pem(id.key.get());
  gnutls_datum_t c = datum(chain), k = datum(key);
  int rv = gnutls_certificate_set_x509_key_mem2(cred_, &c, &k, GNUTLS_X509_FMT_PEM, nullptr, 0);
  if (rv < 0) {
    gnutls_certificate_free_credentials(cred_);
    throw AuthError(std::string("QUIC TLS: GnuTLS does not take the node's certificate and key: ") + gnutls_strerror(rv));
  }
  // No trust list in GnuTLS: verify() judges the peer (the mesh port's rules), and a
  // CertificateRequest that names no CA makes a client show the certificate it has, so a
  // refusal says why (cert_rejected) instead of "no certificate".
}

Credentials::~Credentials() { gnutls_certificate_free_credentials(cred_); }

Result<PeerIdentity, Handshake> Credentials::verify(gnutls_session_t session) const {
  unsigned n = 0;
  const gnutls_datum_t* certs = gnutls_certificate_get_peers(session, &n);
  if (!certs || n == 0) return Handshake::kNoClientCert;
  std::vector<Bytes> chain;
  chain.reserve(n);
  for (unsigned i = 0; i < n; ++i) chain.emplace_back(certs[i].data, certs[i].data + certs[i].size);
  auto peer = verifier_.verify(chain);
  if (!peer) return Handshake::kCertRejected;
  return PeerIdentity{peer->spiffe_id, peer->node_id};
}

}  // namespace ugate::quic

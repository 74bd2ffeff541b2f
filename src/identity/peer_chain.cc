#include "identity/peer_chain.h"

#include <openssl/err.h>

#include "identity/cert.h"
#include "identity/node_id.h"

namespace ugate {
namespace {

ossl::Cert from_der(const Bytes& der) {
  const unsigned char* p = der.data();
  ossl::Cert cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert && p != der.data() + der.size()) cert.reset();  // trailing bytes
  return cert;
}

}  // namespace

std::string_view to_string(ChainError e) {
  switch (e) {
    case ChainError::kUnparsable: return "certificate does not parse";
    case ChainError::kUntrusted: return "certificate not trusted";
    case ChainError::kNoSpiffeId: return "certificate has no SPIFFE ID";
    case ChainError::kNotP256: return "certificate key is not P-256";
  }
  return "bad certificate";
}

ChainVerifier::ChainVerifier(const ossl::Certs& roots) : store_(X509_STORE_new()) {
  for (const auto& r : roots) X509_STORE_add_cert(store_.get(), r.get());
  ERR_clear_error();  // a root listed twice is not an error
}

Result<VerifiedPeer, ChainError> ChainVerifier::verify(const std::vector<Bytes>& chain) const {
  ossl::Certs certs;
  for (const Bytes& der : chain) {
    certs.push_back(from_der(der));
    if (!certs.back()) {
      ERR_clear_error();
      return ChainError::kUnparsable;
    }
  }
  if (certs.empty()) return ChainError::kUnparsable;
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (size_t i = 1; i < certs.size(); ++i) sk_X509_push(untrusted, certs[i].get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  bool trusted = ctx && X509_STORE_CTX_init(ctx, store_.get(), certs[0].get(), untrusted) == 1 &&
                 X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);
  ERR_clear_error();
  if (!trusted) return ChainError::kUntrusted;

  X509* leaf = certs[0].get();
  CertInfo info = inspect(leaf);
  if (!info.spiffe) return ChainError::kNoSpiffeId;
  EVP_PKEY* key = X509_get0_pubkey(leaf);
  if (!key || !crypto::is_p256(key)) return ChainError::kNotP256;
  VerifiedPeer peer;
  EVP_PKEY_up_ref(key);
  peer.key.reset(key);
  peer.spiffe_id = info.spiffe->str();
  peer.trust_domain = info.spiffe->trust_domain;
  peer.node_id = node_id_of(key);
  peer.not_after = info.not_after;
  return peer;
}

Bytes to_der(X509* cert) {
  int n = i2d_X509(cert, nullptr);
  if (n <= 0) return {};
  Bytes out(static_cast<size_t>(n));
  unsigned char* p = out.data();
  i2d_X509(cert, &p);
  return out;
}

}  // namespace ugate

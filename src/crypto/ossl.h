#pragma once
// Thin ownership for OpenSSL objects, and its error queue as text. Every
// OpenSSL call in ugate goes through src/crypto/, src/identity/ and src/transport/tls_stream.*.
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "crypto/p256.h"

namespace ugate::ossl {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

using PKey = crypto::Pkey;
using Cert = std::unique_ptr<X509, Deleter<X509_free>>;
using Csr = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using Ssl = std::unique_ptr<SSL, Deleter<SSL_free>>;
using Certs = std::vector<Cert>;

// SSL_CTX is shared: by the contexts in use and by every SSL made from it
// (SSL_new takes its own reference, so a replaced context lives on exactly as
// long as the connections that use it).
using SslCtx = std::shared_ptr<SSL_CTX>;
inline SslCtx adopt(SSL_CTX* ctx) { return SslCtx(ctx, SSL_CTX_free); }

// The queued OpenSSL errors as one line (and the queue emptied); `fallback`
// when there are none.
std::string last_error(const char* fallback = "unknown OpenSSL error");

inline Cert up_ref(X509* c) {
  X509_up_ref(c);
  return Cert(c);
}

}  // namespace ugate::ossl

#pragma once
// TLS for tests: ClientHellos made by OpenSSL for any SNI and ALPN,
// a mini CA and node identities signed by it, and a blocking OpenSSL client
// on a socket (a peer we did not write).
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/ossl.h"
#include "identity/ca.h"
#include "identity/cert.h"
#include "identity/identity.h"
#include "identity/node_id.h"
#include "identity/spiffe.h"
#include "temp_dir.h"

namespace ugate::test {

// ALPN in wire form: each protocol behind its length.
inline std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string out;
  for (const auto& p : protocols) {
    out += static_cast<char>(p.size());
    out += p;
  }
  return out;
}

// The first flight of an OpenSSL client (TLS 1.2 to 1.3) for `sni` and `alpn`.
inline std::string client_hello(const std::string& sni, const std::vector<std::string>& alpn = {}) {
  ossl::SslCtx ctx = ossl::adopt(SSL_CTX_new(TLS_client_method()));
  ossl::Ssl ssl(SSL_new(ctx.get()));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);
  SSL_set_connect_state(ssl.get());
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
  if (!alpn.empty()) {
    std::string wire = alpn_wire(alpn);
    SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size()));
  }
  SSL_do_handshake(ssl.get());  // wants to read the server's answer: the hello is out
  ERR_clear_error();
  char* data = nullptr;
  long n = BIO_get_mem_data(out, &data);
  return std::string(data, static_cast<size_t>(n));
}

// A node identity (key, chain, roots, SPIFFE ID, node ID) issued by `ca`.
inline std::shared_ptr<NodeIdentity> identity_from(const LocalCa& ca, const std::string& name,
                                                   std::chrono::seconds ttl = std::chrono::hours(1)) {
  auto id = std::make_shared<NodeIdentity>();
  id->key = generate_p256_key();
  id->chain = ca.issue(id->key.get(), workload_spiffe_id(ca.trust_domain(), "default", name), {name}, ttl);
  for (const auto& r : ca.roots()) id->roots.push_back(ossl::up_ref(r.get()));
  id->spiffe = workload_spiffe_id(ca.trust_domain(), "default", name);
  id->trust_domain = ca.trust_domain();
  id->node_id = node_id_of(id->key.get());
  return id;
}

// A blocking TLS client on a connected socket: the handshake's result in
// `ok`, with SNI and ALPN as given. TLS 1.3 lets the client finish before the
// server judged its certificate: a refusal shows on the first read.
inline ossl::Ssl tls_connect(int fd, SSL_CTX* ctx, const std::string& sni, const std::vector<std::string>& alpn,
                             bool& ok) {
  ossl::Ssl ssl(SSL_new(ctx));
  SSL_set_fd(ssl.get(), fd);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
  if (!alpn.empty()) {
    std::string wire = alpn_wire(alpn);
    SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size()));
  }
  ok = SSL_connect(ssl.get()) == 1;
  ERR_clear_error();
  return ssl;
}

inline bool ssl_write_all(SSL* ssl, std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    size_t n = 0;
    if (SSL_write_ex(ssl, data.data() + off, data.size() - off, &n) != 1) return false;
    off += n;
  }
  return true;
}

// Exactly n bytes, or fewer when the stream ended or failed.
inline std::string ssl_read_n(SSL* ssl, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    size_t r = 0;
    if (SSL_read_ex(ssl, out.data() + got, n - got, &r) != 1) break;
    got += r;
  }
  ERR_clear_error();
  out.resize(got);
  return out;
}

}  // namespace ugate::test

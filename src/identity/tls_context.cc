#include "identity/tls_context.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "identity/identity.h"
#include "identity/node_id.h"
#include "crypto/pem.h"

namespace ugate {
namespace {

// Read-ahead buffer: several full records per recv(2).
constexpr long kReadBufferLen = 64 * 1024;

// TLS 1.2 ciphers of public_server_policy: forward secrecy (ECDHE) and AEAD only, the
// strongest first; Mozilla's "intermediate" list without DHE. TLS 1.3 keeps OpenSSL's
// suites (all AEAD), in the same order.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";

// The server's ALPN list (wire format) lives with its context.
int alpn_index() {
  static int index = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr, [](void*, void* p, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<std::string*>(p);
      });
  return index;
}

// ex_data slot telling the ALPN callback that http/1.1 may come without a certificate.
int certless_index() {
  static int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// ex_data slot telling the ALPN callback that h2rt takes any client certificate
// (the registration token that follows says who the node is).
int token_h2r_index() {
  static int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// h2rt: the certificate proves possession of its key only; the chain is not judged.
int accept_any_certificate(int, X509_STORE_CTX*) { return 1; }

std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const auto& p : protocols) {
    if (p.empty() || p.size() > 255) continue;
    wire += static_cast<char>(p.size());
    wire += p;
  }
  return wire;
}

int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                void*) {
  SSL_CTX* ctx = SSL_get_SSL_CTX(ssl);
  auto* wire = static_cast<std::string*>(SSL_CTX_get_ex_data(ctx, alpn_index()));
  if (!wire || wire->empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, reinterpret_cast<const unsigned char*>(wire->data()),
                            static_cast<unsigned>(wire->size()), in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  // The CA's bootstrap endpoint: a certificate is asked for but not required
  // (the endpoint then requires a token). Decided here, before the server
  // sends its CertificateRequest.
  std::string_view proto(reinterpret_cast<const char*>(chosen), *outlen);
  if (proto == "http/1.1" && SSL_CTX_get_ex_data(ctx, certless_index())) SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
  if (proto == "h2rt" && SSL_CTX_get_ex_data(ctx, token_h2r_index()))
    SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any_certificate);
  return SSL_TLSEXT_ERR_OK;
}

// Chain verification passed: the leaf must also name a SPIFFE ID.
int verify_spiffe(int ok, X509_STORE_CTX* store) {
  if (!ok || X509_STORE_CTX_get_error_depth(store) != 0) return ok;
  if (spiffe_id_of(X509_STORE_CTX_get_current_cert(store))) return 1;
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

ossl::SslCtx new_context(const SSL_METHOD* method, int min_version) {
  ossl::SslCtx ctx = ossl::adopt(SSL_CTX_new(method));
  if (!ctx) throw AuthError("TLS context: " + ossl::last_error());
  SSL_CTX_set_min_proto_version(ctx.get(), min_version);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_read_ahead(ctx.get(), 1);
  SSL_CTX_set_default_read_buffer_len(ctx.get(), kReadBufferLen);
  return ctx;
}

void use_certificate(SSL_CTX* ctx, const ossl::Certs& chain, EVP_PKEY* key) {
  if (chain.empty() || SSL_CTX_use_certificate(ctx, chain[0].get()) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
    throw AuthError("TLS certificate: " + ossl::last_error());
  for (size_t i = 1; i < chain.size(); ++i) SSL_CTX_add1_chain_cert(ctx, chain[i].get());
  if (SSL_CTX_check_private_key(ctx) != 1) throw AuthError("TLS key does not match the certificate");
}

void trust_roots(SSL_CTX* ctx, const ossl::Certs& roots, int purpose) {
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const auto& r : roots) X509_STORE_add_cert(store, r.get());
  ERR_clear_error();  // a root listed twice is not an error
  SSL_CTX_set_purpose(ctx, purpose);
}

void set_alpn_list(SSL_CTX* ctx, const std::vector<std::string>& alpn) {
  SSL_CTX_set_ex_data(ctx, alpn_index(), new std::string(alpn_wire(alpn)));
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
}

}  // namespace

ossl::SslCtx mesh_server_context(const NodeIdentity& id, const std::vector<std::string>& alpn, bool certless_http1,
                                 bool token_h2r) {
  ossl::SslCtx ctx = new_context(TLS_server_method(), TLS1_3_VERSION);
  use_certificate(ctx.get(), id.chain, id.key.get());
  trust_roots(ctx.get(), id.roots, X509_PURPOSE_SSL_CLIENT);
  for (const auto& r : id.roots) SSL_CTX_add_client_CA(ctx.get(), r.get());  // tells clients which CAs count
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_spiffe);
  SSL_CTX_set_num_tickets(ctx.get(), 0);  // mesh peers keep connections pooled, not resumed
  if (certless_http1) SSL_CTX_set_ex_data(ctx.get(), certless_index(), ctx.get());
  if (token_h2r) SSL_CTX_set_ex_data(ctx.get(), token_h2r_index(), ctx.get());
  set_alpn_list(ctx.get(), alpn);
  return ctx;
}

ossl::SslCtx mesh_client_context(const NodeIdentity& id) {
  ossl::SslCtx ctx = new_context(TLS_client_method(), TLS1_3_VERSION);
  use_certificate(ctx.get(), id.chain, id.key.get());
  trust_roots(ctx.get(), id.roots, X509_PURPOSE_SSL_SERVER);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, verify_spiffe);
  return ctx;
}

ossl::SslCtx terminate_context(const ossl::Certs& chain, EVP_PKEY* key, const std::vector<std::string>& alpn) {
  ossl::SslCtx ctx = new_context(TLS_server_method(), TLS1_2_VERSION);
  public_server_policy(ctx.get());
  use_certificate(ctx.get(), chain, key);
  set_alpn_list(ctx.get(), alpn);
  return ctx;
}

void public_server_policy(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) throw AuthError("TLS ciphers: " + ossl::last_error());
  // No stateless session tickets: OpenSSL makes a context's ticket key once and never rotates it,
  // and a TLS 1.2 ticket carries the session's master secret, so whoever read that key out of the
  // process could decrypt every recorded session that got a ticket since the start. TLS 1.2
  // resumes by session ID from the context's session cache (bounded, entries expire). TLS 1.3
  // gets no tickets at all (as on the mesh port): stateful ones would put two sessions in that
  // cache per handshake, and testssl's resumption check, seeing them, failed now and then.
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx, 0);
}

PeerIdentity peer_identity(X509* cert) {
  PeerIdentity out;
  if (!cert) return out;
  if (auto id = spiffe_id_of(cert)) out.spiffe_id = id->str();
  out.node_id = node_id_of(X509_get0_pubkey(cert));
  return out;
}

}  // namespace ugate

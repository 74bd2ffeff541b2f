// What the TLS servers that outside clients reach accept (public_server_policy, through
// terminate_context): handshakes in memory against OpenSSL clients restricted to one thing each.
// tests/integration/test_testssl.py scans the real listeners with testssl.sh.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <optional>
#include <string>

#include "identity/tls_context.h"
#include "tls_test_util.h"

namespace ugate {
namespace {

struct Handshake {
  ossl::Ssl client, server;
  bool ok = false;
};

// Client and server over a BIO pair, stepped until both are done or one fails; the client
// offers `resume` when given.
Handshake handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx, SSL_SESSION* resume = nullptr) {
  Handshake h{ossl::Ssl(SSL_new(client_ctx)), ossl::Ssl(SSL_new(server_ctx))};
  if (resume) SSL_set_session(h.client.get(), resume);
  BIO *client_bio = nullptr, *server_bio = nullptr;
  BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
  SSL_set_bio(h.client.get(), client_bio, client_bio);
  SSL_set_bio(h.server.get(), server_bio, server_bio);
  SSL_set_connect_state(h.client.get());
  SSL_set_accept_state(h.server.get());
  for (int round = 0; round < 20; ++round) {
    int c = SSL_do_handshake(h.client.get());
    int s = SSL_do_handshake(h.server.get());
    if (c == 1 && s == 1) {
      h.ok = true;
      break;
    }
    auto stuck = [](SSL* ssl, int rc) {
      int e = SSL_get_error(ssl, rc);
      return rc != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
    };
    if (stuck(h.client.get(), c) || stuck(h.server.get(), s)) break;
  }
  ERR_clear_error();
  return h;
}

// An OpenSSL client of one protocol version offering exactly `ciphers` (TLS 1.2 names).
ossl::SslCtx client(int version, const char* ciphers = nullptr) {
  ossl::SslCtx ctx = ossl::adopt(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_security_level(ctx.get(), 0);  // lets the client offer what the server must refuse
  SSL_CTX_set_min_proto_version(ctx.get(), version);
  SSL_CTX_set_max_proto_version(ctx.get(), version);
  if (ciphers) {
    EXPECT_EQ(SSL_CTX_set_cipher_list(ctx.get(), ciphers), 1) << ciphers;
  }
  return ctx;
}

std::string cipher(const Handshake& h) { return SSL_CIPHER_get_name(SSL_get_current_cipher(h.client.get())); }

class PublicServerPolicy : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_.emplace(LocalCa::init(test::temp_dir("tlsctx") + "/ca", "policy.test"));
    id_ = test::identity_from(*ca_, "web");
    server_ = terminate_context(id_->chain, id_->key.get(), {});
  }

  std::optional<LocalCa> ca_;
  std::shared_ptr<NodeIdentity> id_;
  ossl::SslCtx server_;
};

TEST_F(PublicServerPolicy, Tls13AndTls12Only) {
  EXPECT_TRUE(handshake(server_.get(), client(TLS1_3_VERSION).get()).ok);
  EXPECT_TRUE(handshake(server_.get(), client(TLS1_2_VERSION).get()).ok);
  EXPECT_FALSE(handshake(server_.get(), client(TLS1_1_VERSION).get()).ok);
  EXPECT_FALSE(handshake(server_.get(), client(TLS1_VERSION).get()).ok);
}

TEST_F(PublicServerPolicy, Tls12OnlyEcdheWithAead) {
  // Every suite the server would pick: TLS 1.3's, or ECDHE with an AEAD cipher (whatever the
  // certificate's key: no RSA key transport, no finite-field DHE, no CBC, no 3DES or RC4).
  STACK_OF(SSL_CIPHER)* suites = SSL_CTX_get_ciphers(server_.get());
  ASSERT_GT(sk_SSL_CIPHER_num(suites), 0);
  for (int i = 0; i < sk_SSL_CIPHER_num(suites); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(suites, i);
    int kx = SSL_CIPHER_get_kx_nid(c);
    EXPECT_TRUE(kx == NID_kx_ecdhe || kx == NID_kx_any) << SSL_CIPHER_get_name(c);
    EXPECT_TRUE(SSL_CIPHER_is_aead(c)) << SSL_CIPHER_get_name(c);
  }
  // CBC with ECDHE (Lucky13, padding oracles), offered alone, is refused.
  for (const char* weak : {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256"})
    EXPECT_FALSE(handshake(server_.get(), client(TLS1_2_VERSION, weak).get()).ok) << weak;
  for (const char* strong : {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                             "ECDHE-ECDSA-CHACHA20-POLY1305"}) {
    Handshake h = handshake(server_.get(), client(TLS1_2_VERSION, strong).get());
    EXPECT_TRUE(h.ok) << strong;
    if (h.ok) {
      EXPECT_EQ(cipher(h), strong);
    }
  }
}

TEST_F(PublicServerPolicy, TheServerOrderDecides) {
  // The client prefers AES-128; the server's order puts AES-256 first.
  Handshake h = handshake(server_.get(),
                          client(TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384").get());
  ASSERT_TRUE(h.ok);
  EXPECT_EQ(cipher(h), "ECDHE-ECDSA-AES256-GCM-SHA384");
  // Except for a client that lists ChaCha20 first (one without AES instructions).
  h = handshake(server_.get(),
                client(TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384").get());
  ASSERT_TRUE(h.ok);
  EXPECT_EQ(cipher(h), "ECDHE-ECDSA-CHACHA20-POLY1305");
}

TEST_F(PublicServerPolicy, Tls12ResumesBySessionIdNotByTicket) {
  ossl::SslCtx tls12 = client(TLS1_2_VERSION);
  Handshake first = handshake(server_.get(), tls12.get());
  ASSERT_TRUE(first.ok);
  SSL_SESSION* session = SSL_get1_session(first.client.get());
  EXPECT_FALSE(SSL_SESSION_has_ticket(session)) << "no ticket under a key that is never rotated";
  Handshake again = handshake(server_.get(), tls12.get(), session);
  SSL_SESSION_free(session);
  ASSERT_TRUE(again.ok);
  EXPECT_TRUE(SSL_session_reused(again.client.get())) << "resumed from the server's session cache";
}

TEST_F(PublicServerPolicy, Tls13SendsNoTickets) {
  Handshake h = handshake(server_.get(), client(TLS1_3_VERSION).get());
  ASSERT_TRUE(h.ok);
  char byte;
  EXPECT_LE(SSL_read(h.client.get(), &byte, 1), 0);  // takes in what the server sent after its Finished
  ERR_clear_error();
  SSL_SESSION* session = SSL_get1_session(h.client.get());
  EXPECT_FALSE(SSL_SESSION_is_resumable(session)) << "a NewSessionTicket came";
  SSL_SESSION_free(session);
}

}  // namespace
}  // namespace ugate

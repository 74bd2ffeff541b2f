// The tls-sni door on a real worker and loopback sockets, with a fake
// connector: the ClientHello is only peeked, so the upstream of the route its
// SNI picks gets every byte of it (passthrough); a route that terminates TLS
// answers with its certificate and forwards plaintext; no route, garbage and
// a slow client are refused without a dial.
#include <openssl/x509v3.h>

#include "door_test.h"
#include "identity/tls_context.h"
#include "identity/tls_terminate.h"
#include "policy/listener_auth.h"
#include "tls_test_util.h"

namespace ugate {
namespace {

using namespace test;

class DoorTlsSni : public DoorTest {
 protected:
  void routes() {
    config_.router = Router({Route{{"a.test", 0}, {"backend-a.test", 8443}, nullptr},
                             Route{{"*.b.test", 0}, {"backend-b.test", 9443}, nullptr}});
  }
};

TEST_F(DoorTlsSni, PassesTheWholeHelloToTheRouteOfItsSni) {
  routes();
  upstream_listener();
  start(Protocol::kTlsSni);
  const std::string hello = client_hello("x.b.test", {"h2", "http/1.1"});
  int c = connect_client();
  send_all(c, hello);
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  EXPECT_TRUE(read_n(up, hello.size()) == hello) << "the hello is replayed byte for byte";
  send_all(up, "server flight");
  EXPECT_EQ(read_n(c, 13), "server flight");
  send_all(c, "more");
  EXPECT_EQ(read_n(up, 4), "more");
  ::shutdown(c, SHUT_WR);
  ::shutdown(up, SHUT_WR);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kDone), 1u);
  EXPECT_EQ(slot_->stats.bytes_up.get(), hello.size() + 4);

  ASSERT_EQ(fake_.calls, 1);
  ConnectCall call = fake_.last();
  EXPECT_EQ(call.destination, "backend-b.test:9443");
  EXPECT_EQ(call.sni, "x.b.test");
  EXPECT_EQ(call.alpn, "h2,http/1.1");
  EXPECT_EQ(call.protocol, "tls-sni");
}

TEST_F(DoorTlsSni, HelloInPiecesIsWaitedFor) {
  routes();
  upstream_listener();
  start(Protocol::kTlsSni);
  const std::string hello = client_hello("a.test");
  int c = connect_client();
  send_all(c, hello.substr(0, 3));
  std::this_thread::sleep_for(20ms);  // the door peeks a prefix and must wait for the rest
  send_all(c, hello.substr(3));
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  EXPECT_TRUE(read_n(up, hello.size()) == hello);
  EXPECT_EQ(fake_.last().destination, "backend-a.test:8443");
  EXPECT_EQ(fake_.last().sni, "a.test");
}

TEST_F(DoorTlsSni, UnknownSniHasNoRoute) {
  routes();
  start(Protocol::kTlsSni);
  int c = connect_client();
  send_all(c, client_hello("c.test"));
  int err = 0;
  EXPECT_EQ(read_end(c, err), -1);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kNoRoute), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorTlsSni, NotTlsIsSniffFailed) {
  routes();
  start(Protocol::kTlsSni);
  int c = connect_client();
  send_all(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
  int err = 0;
  EXPECT_EQ(read_end(c, err), -1);
  EXPECT_EQ(err, ECONNRESET);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kSniffFailed), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorTlsSni, TruncatedHelloHitsSniffTimeout) {
  routes();
  start(Protocol::kTlsSni);
  int c = connect_client();
  auto begin = std::chrono::steady_clock::now();
  send_all(c, client_hello("a.test").substr(0, 40));  // then silence
  int err = 0;
  EXPECT_EQ(read_end(c, err), -1);
  EXPECT_GE(std::chrono::steady_clock::now() - begin, config_.sniff_timeout - Worker::kTick);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1s);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kSniffTimeout), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

// A route with `terminate`: its certificate answers, the upstream gets plaintext.
class DoorTlsSniTerminate : public DoorTest {
 protected:
  void SetUp() override {
    DoorTest::SetUp();
    ca_.emplace(LocalCa::init(temp_dir("sni") + "/ca", "mesh.test"));
    auto terminate = std::make_shared<TlsTerminate>();
    terminate->cert = "unused.pem";  // the test hands the context over directly
    config_.router = Router({Route{{"secure.test", 0}, {"plain-backend.test", 8080}, terminate},
                             Route{{"nocert.test", 0}, {"plain-backend.test", 8080}, terminate}});
    key_ = generate_p256_key();
    auto chain = ca_->issue(key_.get(), workload_spiffe_id("mesh.test", "default", "secure"), {"secure.test"},
                            std::chrono::hours(1));
    auth_store_.terminate[&config_.router.routes()[0]] = terminate_context(chain, key_.get(), {});
    auth_ = &auth_store_;
  }
  std::optional<LocalCa> ca_;
  ossl::PKey key_;
  ListenerAuth auth_store_;
};

TEST_F(DoorTlsSniTerminate, TerminatesWithTheRoutesCertificateAndForwardsPlaintext) {
  upstream_listener();
  start(Protocol::kTlsSni);
  int c = connect_client();
  ossl::SslCtx ctx = ossl::adopt(SSL_CTX_new(TLS_client_method()));
  bool ok = false;
  ossl::Ssl ssl = tls_connect(c, ctx.get(), "secure.test", {"h2"}, ok);
  ASSERT_TRUE(ok);
  X509* cert = SSL_get0_peer_certificate(ssl.get());
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_host(cert, "secure.test", 0, 0, nullptr), 1) << "the route's certificate";
  ASSERT_TRUE(ssl_write_all(ssl.get(), "GET / HTTP/1.1\r\n\r\n"));
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  EXPECT_EQ(read_n(up, 18), "GET / HTTP/1.1\r\n\r\n") << "plaintext upstream";
  send_all(up, "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(ssl_read_n(ssl.get(), 27), "HTTP/1.1 204 No Content\r\n\r\n");
  ASSERT_EQ(fake_.calls, 1);
  EXPECT_EQ(fake_.last().destination, "plain-backend.test:8080");
  EXPECT_EQ(fake_.last().sni, "secure.test");
  EXPECT_EQ(fake_.last().alpn, "") << "the offered ALPN was for the terminated TLS, not the upstream";
}

TEST_F(DoorTlsSniTerminate, RouteWithoutAContextIsRefused) {
  start(Protocol::kTlsSni);
  int c = connect_client();
  send_all(c, client_hello("nocert.test"));
  int err = 0;
  EXPECT_EQ(read_end(c, err), -1);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kOverload), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorTlsSniTerminate, FailedHandshakeIsTlsFailed) {
  start(Protocol::kTlsSni);
  int c = connect_client();
  // A hello for the terminating route, then the end: the handshake cannot finish.
  send_all(c, client_hello("secure.test"));
  ::shutdown(c, SHUT_WR);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kTlsFailed), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

}  // namespace
}  // namespace ugate

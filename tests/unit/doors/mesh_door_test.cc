// The mesh door (mTLS, BASE+8) on a real worker with its Mesh and a fake
// connector, with identities from a mini CA: ALPN h2 serves HBONE whose
// streams carry the client's proven SPIFFE ID; no ALPN forwards by SNI like
// tls-sni, to plaintext; a client without a certificate, with one from another
// CA, speaking no TLS, or silent, is refused without a dial. Not covered here:
// the CA endpoint (http/1.1, tests/unit/identity), reverse registration (h2r,
// h2rt: the integration tests' reverse suites).
#include "door_test.h"
#include "hbone_client.h"
#include "identity/mesh_identity.h"
#include "identity/tls_context.h"
#include "policy/listener_auth.h"
#include "tls_test_util.h"

namespace ugate {
namespace {

using namespace test;

class DoorMesh : public DoorTest {
 protected:
  void SetUp() override {
    DoorTest::SetUp();
    dir_ = temp_dir("mesh-door");
    ca_.emplace(LocalCa::init(dir_ + "/ca", "mesh.test"));
    server_id_ = identity_from(*ca_, "gateway");
    client_id_ = identity_from(*ca_, "client");
    MeshIdentity::Options options;
    options.mesh_alpn = {"h2", "h2r"};
    identity_.emplace(server_id_, std::move(options));
    auth_store_.identity = &*identity_;
    auth_ = &auth_store_;
    config_.router = Router({Route{{"fwd.test", 0}, {"inner.test", 8080}, nullptr}});
  }

  void start_mesh() { start(Protocol::kMesh, nullptr, /*mesh=*/true); }

  // A client with a certificate of the mesh opens an HBONE stream to
  // inner.test:9000 and sends bytes through; returns the dial it caused.
  ConnectCall hbone_over_mtls() {
    upstream_listener();
    start_mesh();
    HboneClient client;
    ossl::SslCtx ctx = mesh_client_context(*client_id_);
    std::unique_ptr<Stream> transport = client.tcp_to(port());
    auto tls = TlsStream::create(transport, ctx.get(), TlsStream::Role::kClient, client.context());
    EXPECT_NE(tls, nullptr);
    if (!tls) return {};
    const std::string h2 = "h2";
    tls->set_alpn(std::span<const std::string>(&h2, 1));
    TlsResult handshake = TlsResult::kFailed;
    TlsStream& t = *tls;
    bool done = client.run([&]() -> asio::awaitable<void> { handshake = co_await t.handshake(); });
    EXPECT_TRUE(done);
    EXPECT_EQ(handshake, TlsResult::kOk);
    EXPECT_EQ(t.alpn(), "h2");
    client.start(std::move(tls));
    auto s = client.connect("inner.test:9000");
    done = client.run([&]() -> asio::awaitable<void> {
      int up_fd = co_await client.accept_on(upstream_listener_);
      EXPECT_GE(up_fd, 0);
      if (up_fd < 0) co_return;
      auto up = client.adopt(up_fd);
      co_await wait_readable(*s);
      EXPECT_EQ(s->status(), 200);
      error_code ec = co_await write_all(*s, "over mtls");
      EXPECT_FALSE(ec);
      std::string got = co_await read_exactly(*up, 9);
      EXPECT_EQ(got, "over mtls");
      s->close();
      up->close();
    });
    EXPECT_TRUE(done);
    EXPECT_EQ(fake_.calls, 1);
    return fake_.last();
  }

  std::string dir_;
  std::optional<LocalCa> ca_;
  std::shared_ptr<NodeIdentity> server_id_, client_id_;
  std::optional<MeshIdentity> identity_;
  ListenerAuth auth_store_;
};

TEST_F(DoorMesh, HboneOverMutualTlsCarriesThePeersIdentity) {
  ConnectCall call = hbone_over_mtls();
  EXPECT_EQ(call.destination, "inner.test:9000");
  EXPECT_EQ(call.peer_spiffe, "spiffe://mesh.test/ns/default/sa/client");
  EXPECT_EQ(call.protocol, "mesh");
  EXPECT_TRUE(call.own_addresses_only) << "the client named it: no relay beyond this node by default";
}

TEST_F(DoorMesh, EgressOnTheListenerLetsHboneStreamsGoAnywhere) {
  config_.egress = true;
  EXPECT_FALSE(hbone_over_mtls().own_addresses_only);
}

TEST_F(DoorMesh, WithoutAlpnItForwardsBySniToPlaintext) {
  upstream_listener();
  start_mesh();
  int c = connect_client();
  ossl::SslCtx ctx = mesh_client_context(*client_id_);
  bool ok = false;
  ossl::Ssl ssl = tls_connect(c, ctx.get(), "fwd.test", {}, ok);
  ASSERT_TRUE(ok);
  ASSERT_TRUE(ssl_write_all(ssl.get(), "plain please"));
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  EXPECT_EQ(read_n(up, 12), "plain please");
  send_all(up, "ok");
  EXPECT_EQ(ssl_read_n(ssl.get(), 2), "ok");
  ConnectCall call = fake_.last();
  EXPECT_EQ(call.destination, "inner.test:8080");
  EXPECT_EQ(call.sni, "fwd.test");
  EXPECT_EQ(call.peer_spiffe, "spiffe://mesh.test/ns/default/sa/client");
  EXPECT_FALSE(call.own_addresses_only) << "the route named it, not the client";
}

TEST_F(DoorMesh, ForwarderWithoutARouteForTheSniIsRefused) {
  start_mesh();
  int c = connect_client();
  ossl::SslCtx ctx = mesh_client_context(*client_id_);
  bool ok = false;
  ossl::Ssl ssl = tls_connect(c, ctx.get(), "unknown.test", {}, ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ssl_read_n(ssl.get(), 1), "");
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kNoRoute), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorMesh, ClientWithoutACertificateIsRefused) {
  start_mesh();
  int c = connect_client();
  ossl::SslCtx ctx = ossl::adopt(SSL_CTX_new(TLS_client_method()));
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), server_id_->roots[0].get());
  bool ok = false;
  ossl::Ssl ssl = tls_connect(c, ctx.get(), "", {"h2"}, ok);
  EXPECT_EQ(ssl_read_n(ssl.get(), 1), "") << "TLS 1.3: the refusal shows on the first read";
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kNoClientCert), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorMesh, CertificateFromAnotherCaIsRejected) {
  start_mesh();
  LocalCa other = LocalCa::init(dir_ + "/other-ca", "mesh.test");
  auto stranger = identity_from(other, "stranger");
  // It trusts our roots (so its own check passes) but presents the other CA's certificate.
  stranger->roots.clear();
  for (const auto& r : server_id_->roots) stranger->roots.push_back(ossl::up_ref(r.get()));
  int c = connect_client();
  ossl::SslCtx ctx = mesh_client_context(*stranger);
  bool ok = false;
  ossl::Ssl ssl = tls_connect(c, ctx.get(), "", {"h2"}, ok);
  EXPECT_EQ(ssl_read_n(ssl.get(), 1), "");
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kCertRejected), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorMesh, NotTlsIsTlsFailed) {
  start_mesh();
  int c = connect_client();
  send_all(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  read_all(c);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kTlsFailed), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorMesh, SilentClientHitsHandshakeTimeout) {
  start_mesh();
  auto begin = std::chrono::steady_clock::now();
  int c = connect_client();
  ssize_t end = 1;
  read_all(c, &end);
  EXPECT_GE(std::chrono::steady_clock::now() - begin, config_.handshake_timeout - Worker::kTick);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1500ms);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kTlsTimeout), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

}  // namespace
}  // namespace ugate

// TlsStream on real loopback sockets: the mesh handshake and what it refuses,
// then the proxy engine moving bytes through it both ways, with half-close.
// The client side is plain blocking OpenSSL, as a peer we did not write.
#include "transport/tls_stream.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <optional>
#include <random>
#include <thread>

#include "identity/ca.h"
#include "identity/identity.h"
#include "identity/node_id.h"
#include "identity/tls_context.h"
#include "transport/proxy.h"
#include "loopback.h"
#include "transport/proxy_rig.h"
#include "tls_test_util.h"

namespace ugate {
namespace {

using test::identity_from;
std::string temp_dir() { return test::temp_dir("tls"); }

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

void ssl_write_all(SSL* ssl, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    size_t n = 0;
    ASSERT_EQ(SSL_write_ex(ssl, data.data() + off, data.size() - off, &n), 1) << ossl::last_error();
    off += n;
  }
}

std::string ssl_read_to_end(SSL* ssl, int* last_error = nullptr) {
  std::string out;
  char buf[65536];
  size_t n = 0;
  while (SSL_read_ex(ssl, buf, sizeof buf, &n) == 1) out.append(buf, n);
  if (last_error) *last_error = SSL_get_error(ssl, 0);
  ERR_clear_error();
  return out;
}

std::string read_to_end(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

void write_all(int fd, const std::string& data) {
  for (size_t off = 0; off < data.size();) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    off += static_cast<size_t>(n);
  }
}

class TlsStreamTest : public ::testing::Test, public test::ProxyRig {
 protected:
  void SetUp() override {
    ca_.emplace(LocalCa::init(temp_dir() + "/ca", "mesh.test"));
    server_id_ = identity_from(*ca_, "server", std::chrono::hours(1));
    server_ctx_ = mesh_server_context(*server_id_, {}, false);
    thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(ctx_);
      ctx_.run();
    });
  }

  void TearDown() override {
    std::promise<void> closed;
    asio::post(ctx_, [&] {
      if (tls_) tls_->close();
      if (up_) up_->close();
      proxy_.reset();
      tls_.reset();
      up_.reset();
      closed.set_value();
    });
    closed.get_future().wait();
    ctx_.stop();
    thread_.join();
    poller_.shutdown();
    for (int fd : {client_, upstream_peer_}) {
      if (fd >= 0) ::close(fd);
    }
  }

  // Accepts one connection as a mesh server; the handshake's result.
  std::future<TlsResult> start_server() {
    uint16_t port = 0;
    int listener = test::loopback_listener(1, port);
    client_ = test::loopback_connect(port);
    int accepted = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
    ::close(listener);
    meta_ = std::make_shared<StreamMeta>();
    auto done = std::make_shared<std::promise<TlsResult>>();
    asio::post(ctx_, [this, accepted, done] {
      std::unique_ptr<Stream> tcp = std::make_unique<TcpStream>(accepted, poller_, meta_);
      tls_ = TlsStream::create(tcp, server_ctx_.get(), TlsStream::Role::kServer, ctx_);
      asio::co_spawn(ctx_, tls_->handshake(&detail_), [done](std::exception_ptr, TlsResult r) { done->set_value(r); });
    });
    return done->get_future();
  }

  // The client's handshake (blocking), with `id`'s certificate or none.
  ossl::Ssl client_connect(const NodeIdentity* id, bool expect_ok) {
    NodeIdentity anonymous;
    for (const auto& r : server_id_->roots) anonymous.roots.push_back(ossl::up_ref(r.get()));
    ossl::SslCtx ctx = id ? mesh_client_context(*id) : ossl::adopt(SSL_CTX_new(TLS_client_method()));
    if (!id) {
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), server_id_->roots[0].get());
      SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    }
    ossl::Ssl ssl(SSL_new(ctx.get()));
    SSL_set_fd(ssl.get(), client_);
    int rc = SSL_connect(ssl.get());
    // TLS 1.3: the client finishes before the server judges its certificate;
    // a refusal shows on its first read.
    if (rc == 1 && !expect_ok) {
      char c;
      rc = SSL_read(ssl.get(), &c, 1);
    }
    EXPECT_EQ(rc == 1, expect_ok) << ossl::last_error();
    ERR_clear_error();
    return ssl;
  }

  // Proxies the accepted TLS stream to a plain loopback connection.
  void start_proxy() {
    uint16_t port = 0;
    int listener = test::loopback_listener(1, port);
    int proxy_end = test::loopback_connect(port, SOCK_NONBLOCK);
    upstream_peer_ = ::accept(listener, nullptr, nullptr);
    ::close(listener);
    asio::post(ctx_, [this, proxy_end] {
      up_ = std::make_unique<TcpStream>(proxy_end, poller_, meta_);
      proxy_.emplace(*tls_, *up_, pctx_, *this);
      proxy_->start();
    });
  }

  void proxy_done(CloseReason reason) override {
    tls_->close();
    up_->close();
    report(reason);
  }
  CloseReason result() { return ProxyRig::result(std::chrono::seconds(20)); }

  ProxyContext pctx_{context(true)};
  std::optional<LocalCa> ca_;
  std::shared_ptr<NodeIdentity> server_id_;
  ossl::SslCtx server_ctx_;
  std::shared_ptr<StreamMeta> meta_;
  std::unique_ptr<TlsStream> tls_;
  std::unique_ptr<TcpStream> up_;
  std::string detail_;
  int client_ = -1, upstream_peer_ = -1;
  std::optional<Proxy> proxy_;
  std::thread thread_;
};

TEST_F(TlsStreamTest, MutualTls13WithSpiffeIdentities) {
  auto server = start_server();
  auto client_id = identity_from(*ca_, "client", std::chrono::hours(1));
  ossl::Ssl ssl = client_connect(client_id.get(), true);
  ASSERT_EQ(server.get(), TlsResult::kOk) << detail_;
  EXPECT_EQ(SSL_version(ssl.get()), TLS1_3_VERSION);
  PeerIdentity peer = peer_identity(tls_->peer_certificate());
  EXPECT_EQ(peer.spiffe_id, "spiffe://mesh.test/ns/default/sa/client");
  EXPECT_EQ(peer.node_id, client_id->node_id);
  EXPECT_EQ(peer_identity(SSL_get0_peer_certificate(ssl.get())).spiffe_id, "spiffe://mesh.test/ns/default/sa/server");
}

TEST_F(TlsStreamTest, NoCertificateIsRefused) {
  auto server = start_server();
  client_connect(nullptr, false);
  EXPECT_EQ(server.get(), TlsResult::kNoPeerCert) << detail_;
}

TEST_F(TlsStreamTest, CertificateFromAnotherCaIsRejected) {
  auto server = start_server();
  LocalCa other = LocalCa::init(temp_dir() + "/other", "mesh.test");
  auto stranger = identity_from(other, "client", std::chrono::hours(1));
  for (auto& r : stranger->roots) r = ossl::up_ref(server_id_->roots[0].get());  // it trusts the server
  client_connect(stranger.get(), false);
  EXPECT_EQ(server.get(), TlsResult::kPeerRejected);
  EXPECT_EQ(detail_, "unable to get local issuer certificate");
}

TEST_F(TlsStreamTest, ExpiredCertificateIsRejected) {
  auto server = start_server();
  auto expired = identity_from(*ca_, "client", std::chrono::seconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  client_connect(expired.get(), false);
  EXPECT_EQ(server.get(), TlsResult::kPeerRejected);
  EXPECT_EQ(detail_, "certificate has expired");
}

TEST_F(TlsStreamTest, ProxyMovesBytesBothWaysThroughTlsWithHalfClose) {
  auto server = start_server();
  auto client_id = identity_from(*ca_, "client", std::chrono::hours(1));
  ossl::Ssl ssl = client_connect(client_id.get(), true);
  ASSERT_EQ(server.get(), TlsResult::kOk);
  start_proxy();
  const std::string up = random_bytes(8 << 20, 1), down = random_bytes(6 << 20, 2);
  std::string at_upstream, at_client;
  int client_end = 0;
  std::thread upstream([&] {
    std::thread reader([&] { at_upstream = read_to_end(upstream_peer_); });
    write_all(upstream_peer_, down);
    ::shutdown(upstream_peer_, SHUT_WR);
    reader.join();
  });
  // One SSL object, two threads: the client reads and writes in turns on this thread.
  SSL_set_mode(ssl.get(), SSL_MODE_AUTO_RETRY);
  ssl_write_all(ssl.get(), up);
  SSL_shutdown(ssl.get());  // close_notify: the upstream sees EOF, the reply still comes
  at_client = ssl_read_to_end(ssl.get(), &client_end);
  upstream.join();
  EXPECT_EQ(result(), CloseReason::kDone);
  EXPECT_TRUE(at_upstream == up) << "upstream got " << at_upstream.size() << " bytes";
  EXPECT_TRUE(at_client == down) << "client got " << at_client.size() << " bytes";
  EXPECT_EQ(client_end, SSL_ERROR_ZERO_RETURN) << "the reply ends with close_notify";
  EXPECT_EQ(meta_->mode, ProxyMode::kCopy);
  EXPECT_EQ(meta_->bytes_up, up.size());
  EXPECT_EQ(meta_->bytes_down, down.size());
}

}  // namespace
}  // namespace ugate

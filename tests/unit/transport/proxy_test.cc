// The proxy engine on real loopback sockets: both the splice and the copy path.
#include "transport/proxy.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <future>
#include <optional>
#include <random>
#include <thread>

#include "transport/proxy_rig.h"
#include "transport/tcp_stream.h"
#include "loopback.h"

namespace ugate {
namespace {

// A connected loopback pair: `fd` is a plain blocking descriptor for the test
// to drive, `proxy_fd` the proxy's non-blocking end.
struct Pair {
  int fd;
  int proxy_fd;
};

Pair connected_pair() {
  uint16_t port = 0;
  int listener = test::loopback_listener(1, port);
  int client = test::loopback_connect(port);
  int accepted = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
  ::close(listener);
  return Pair{client, accepted};
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

void write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << strerror(errno);
    off += static_cast<size_t>(n);
  }
}

// Reads until EOF; errno_out gets the error if the read failed instead.
std::string read_to_end(int fd, int* errno_out = nullptr) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno_out) *errno_out = errno;
    return out;
  }
}

class ProxyTest : public ::testing::TestWithParam<bool>, public test::ProxyRig {
 protected:
  void SetUp() override {
    Pair downstream = connected_pair();
    Pair upstream = connected_pair();
    client_ = downstream.fd;
    server_ = upstream.fd;
    meta_ = std::make_shared<StreamMeta>();
    down_ = std::make_unique<TcpStream>(downstream.proxy_fd, poller_, meta_);
    up_ = std::make_unique<TcpStream>(upstream.proxy_fd, poller_, meta_);
    proxy_.emplace(*down_, *up_, pctx_, *this);
    asio::post(ctx_, [this] { proxy_->start(); });
    thread_ = std::thread([this] { ctx_.run(); });
  }

  void TearDown() override {
    if (result_.valid()) result_.wait_for(std::chrono::seconds(10));
    ctx_.stop();
    thread_.join();
    proxy_.reset();
    down_.reset();
    up_.reset();
    poller_.shutdown();
    ::close(client_);
    ::close(server_);
  }

  void proxy_done(CloseReason reason) override {
    down_->close();
    up_->close();
    report(reason);
  }
  CloseReason result() { return ProxyRig::result(std::chrono::seconds(10)); }

  ProxyContext pctx_{context(GetParam())};
  std::shared_ptr<StreamMeta> meta_;
  std::unique_ptr<Stream> down_, up_;
  int client_ = -1, server_ = -1;
  std::optional<Proxy> proxy_;
  std::thread thread_;
};

TEST_P(ProxyTest, MovesBytesBothWaysExactlyAndCountsThem) {
  const std::string up = random_bytes(8 << 20, 1), down = random_bytes(6 << 20, 2);
  std::string got_at_server, got_at_client;
  std::thread server([&] {
    std::thread reader([&] { got_at_server = read_to_end(server_); });
    write_all(server_, down);
    ::shutdown(server_, SHUT_WR);
    reader.join();
  });
  std::thread reader([&] { got_at_client = read_to_end(client_); });
  write_all(client_, up);
  ::shutdown(client_, SHUT_WR);
  reader.join();
  server.join();
  EXPECT_EQ(result(), CloseReason::kDone);
  EXPECT_TRUE(got_at_server == up) << "upstream got " << got_at_server.size() << " bytes";
  EXPECT_TRUE(got_at_client == down) << "client got " << got_at_client.size() << " bytes";
  EXPECT_EQ(meta_->bytes_up, up.size());
  EXPECT_EQ(meta_->bytes_down, down.size());
  EXPECT_EQ(stats_.bytes_up.get(), up.size());
  EXPECT_EQ(meta_->mode, GetParam() ? ProxyMode::kSplice : ProxyMode::kCopy);
  EXPECT_EQ((GetParam() ? stats_.spliced : stats_.copied).get(), 1u);
  // Bulk transfers leave the copy loop after their first full buffer.
  if (GetParam()) EXPECT_GT(stats_.bytes_spliced.get(), (up.size() + down.size()) * 9 / 10);
  else EXPECT_EQ(stats_.bytes_spliced.get(), 0u);
}

TEST_P(ProxyTest, SmallMessagesAreCopiedOnEitherPath) {
  // Request/response traffic: one recv and one send per message beat two
  // splices and a pipe, so nothing here goes through splice(2).
  const std::string request(1024, 'q'), reply(1024, 'r');
  for (int i = 0; i < 50; ++i) {
    write_all(client_, request);
    std::string got(request.size(), '\0');
    ASSERT_EQ(::recv(server_, got.data(), got.size(), MSG_WAITALL), static_cast<ssize_t>(got.size()));
    ASSERT_EQ(got, request);
    write_all(server_, reply);
    ASSERT_EQ(::recv(client_, got.data(), got.size(), MSG_WAITALL), static_cast<ssize_t>(got.size()));
    ASSERT_EQ(got, reply);
  }
  ::shutdown(client_, SHUT_WR);
  ::shutdown(server_, SHUT_WR);
  EXPECT_EQ(result(), CloseReason::kDone);
  EXPECT_EQ(stats_.bytes_spliced.get(), 0u);
  EXPECT_EQ(meta_->bytes_up, 50u * 1024);
}

TEST_P(ProxyTest, HalfCloseLetsTheReplyThrough) {
  write_all(client_, "ping");
  ::shutdown(client_, SHUT_WR);
  EXPECT_EQ(read_to_end(server_), "ping") << "the server sees EOF after the request";
  write_all(server_, "pong");
  ::shutdown(server_, SHUT_WR);
  EXPECT_EQ(read_to_end(client_), "pong");
  EXPECT_EQ(result(), CloseReason::kDone);
}

TEST_P(ProxyTest, UpstreamResetReachesTheClient) {
  write_all(client_, "hello");
  char buf[5];
  ASSERT_EQ(::recv(server_, buf, sizeof buf, MSG_WAITALL), 5);
  linger lg{1, 0};
  ::setsockopt(server_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  ::close(server_);
  server_ = ::socket(AF_INET, SOCK_STREAM, 0);  // keep TearDown's close harmless
  int err = 0;
  read_to_end(client_, &err);
  EXPECT_EQ(err, ECONNRESET);
  EXPECT_EQ(result(), CloseReason::kUpstreamReset);
}

TEST_P(ProxyTest, ClientResetReachesTheUpstream) {
  linger lg{1, 0};
  ::setsockopt(client_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  ::close(client_);
  client_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int err = 0;
  read_to_end(server_, &err);
  EXPECT_EQ(err, ECONNRESET);
  EXPECT_EQ(result(), CloseReason::kDownstreamReset);
}

TEST_P(ProxyTest, IdleStreamHoldsNoBufferOrPipe) {
  const std::string burst = random_bytes(1 << 20, 3);  // enough to reach splice(2) on that path
  std::thread writer([&] { write_all(client_, burst); });
  std::string got(burst.size(), '\0');
  ASSERT_EQ(::recv(server_, got.data(), got.size(), MSG_WAITALL), static_cast<ssize_t>(got.size()));
  writer.join();
  EXPECT_TRUE(got == burst);
  // Everything borrowed for those bytes is back in the pools.
  std::promise<std::pair<size_t, size_t>> p;
  asio::post(ctx_, [&] { p.set_value({buffers_.cached_bytes(), pipes_.cached()}); });
  auto [bytes, pipes] = p.get_future().get();
  if (GetParam()) EXPECT_GE(pipes, 1u);
  else EXPECT_GE(bytes, AdaptiveSize::kMinSize);
  ::shutdown(client_, SHUT_WR);
  ::shutdown(server_, SHUT_WR);
  EXPECT_EQ(result(), CloseReason::kDone);
}

INSTANTIATE_TEST_SUITE_P(Paths, ProxyTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Splice" : "Copy"; });

TEST(ChooseMode, SplicesOnlyWhenAllowedAndBothAreSockets) {
  asio::io_context ctx;
  Poller poller(ctx);
  Pair a = connected_pair(), b = connected_pair();
  auto meta = std::make_shared<StreamMeta>();
  TcpStream x(a.proxy_fd, poller, meta), y(b.proxy_fd, poller, meta);
  EXPECT_EQ(choose_mode(x, y, true), ProxyMode::kSplice);
  EXPECT_EQ(choose_mode(x, y, false), ProxyMode::kCopy);
  y.close();
  EXPECT_EQ(choose_mode(x, y, true), ProxyMode::kCopy);
  ::close(a.fd);
  ::close(b.fd);
}

}  // namespace
}  // namespace ugate

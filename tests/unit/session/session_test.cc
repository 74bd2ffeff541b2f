// Session::forward with a door's answer and replayed bytes, on a real worker
// and loopback sockets: the answer reaches the client before any proxied
// byte, the replay reaches the upstream first, and the data still splices.
#include "session/session.h"
#include "transport/tcp_connect.h"
#include "upstream/direct_connector.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <chrono>
#include <thread>

#include "fake_connector.h"
#include "loopback.h"

namespace ugate {
namespace {

using namespace std::chrono_literals;

using test::FakeConnector;
using test::loopback_listener;

int connect_to(uint16_t port) {
  int fd = test::loopback_connect(port);
  timeval tv{5, 0};  // a broken session fails the test instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::string read_n(int fd, size_t n) {
  std::string out(n, '\0');
  ssize_t got = ::recv(fd, out.data(), n, MSG_WAITALL);
  out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return out;
}

// recv's result once the stream ends: 0 for FIN, -1 with errno for a reset.
ssize_t read_end(int fd, int& err) {
  char c;
  ssize_t n = ::recv(fd, &c, 1, 0);
  err = n < 0 ? errno : 0;
  return n;
}

void send_all(int fd, std::string_view s) { ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), ssize_t(s.size())); }

class SessionForward : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.name = "test";
    config_.protocol = Protocol::kTcp;
    config_.connect_timeout = 300ms;
    worker_.emplace(0, nullptr);
    direct_.emplace(worker_->resolver(), worker_->poller());
    worker_->set_connector(&*direct_);
    group_.emplace(config_);
    slot_.emplace(*group_);
    worker_->start();
  }

  void TearDown() override {
    worker_.reset();  // joins the thread, ends what is left
    for (int fd : fds_) ::close(fd);
  }

  int track(int fd) {
    fds_.push_back(fd);
    return fd;
  }

  // A client connection whose accepted end becomes a session forwarded to
  // `port` with `options`; returns the client's descriptor.
  int start_session(uint16_t port, ForwardOptions options) {
    uint16_t front_port = 0;
    int front = loopback_listener(1, front_port);
    int client = track(connect_to(front_port));
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int accepted = ::accept4(front, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK);
    ::close(front);
    asio::co_spawn(
        worker_->context(),
        [this, accepted, port, options = std::move(options)]() mutable -> asio::awaitable<void> {
          auto session = Session::create(*worker_, *slot_,
                                         Session::accepted_stream(*worker_, *slot_, accepted, AcceptedFrom{}),
                                         Admission());
          HostPort to{"127.0.0.1", port};  // named: GCC 12 mis-copies a prvalue into a coroutine's parameter
          co_await Session::forward(std::move(session), std::move(to), std::move(options));
        },
        asio::detached);
    return client;
  }

  void wait_closed(uint64_t n) {
    for (int i = 0; i < 500 && slot_->stats.closed.get() < n; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(slot_->stats.closed.get(), n);
  }
  uint64_t closed_by(CloseReason r) { return slot_->stats.closed_by_reason[static_cast<size_t>(r)].get(); }

  ListenerConfig config_;
  std::optional<ListenerGroup> group_;
  std::optional<Worker> worker_;
  std::optional<DirectConnector> direct_;  // the worker's connector; outlives its sessions (TearDown)
  std::optional<ListenerSlot> slot_;
  std::vector<int> fds_;
};

// The answer names the outcome and both ends of the upstream connection.
std::string describe(const DialOutcome& o) {
  return std::string(to_string(o.result)) + " " + format_endpoint(o.upstream) + " " +
         std::to_string(o.local.port()) + "\n";
}

TEST_F(SessionForward, AnswersThenReplaysThenSplices) {
  uint16_t port = 0;
  int server_listener = track(loopback_listener(4, port));
  int client = start_session(port, {"early bytes|", describe});
  int server = track(::accept(server_listener, nullptr, nullptr));
  timeval tv{5, 0};
  ::setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in seen{};
  socklen_t len = sizeof seen;
  ::getpeername(server, reinterpret_cast<sockaddr*>(&seen), &len);

  std::string expected = "done 127.0.0.1:" + std::to_string(port) + " " + std::to_string(ntohs(seen.sin_port)) + "\n";
  EXPECT_EQ(read_n(client, expected.size()), expected);
  EXPECT_EQ(read_n(server, 12), "early bytes|") << "replayed bytes come first";
  send_all(client, "then the stream");
  EXPECT_EQ(read_n(server, 15), "then the stream");
  send_all(server, "and back");
  EXPECT_EQ(read_n(client, 8), "and back");
  ::shutdown(client, SHUT_WR);
  ::shutdown(server, SHUT_WR);
  int err = 0;
  EXPECT_EQ(read_end(client, err), 0);
  wait_closed(1);
  EXPECT_EQ(closed_by(CloseReason::kDone), 1u);
  EXPECT_EQ(slot_->stats.spliced.get(), 1u) << "the replay does not stop the kernel path";
  EXPECT_EQ(slot_->stats.bytes_up.get(), 27u) << "replayed bytes count as the client's";
}

TEST_F(SessionForward, RefusedDialIsAnsweredThenClosedInOrder) {
  uint16_t port = 0;
  ::close(loopback_listener(1, port));  // nothing listens there now
  int client = start_session(port, {"never sent", describe});
  EXPECT_EQ(read_n(client, 16), "connect_refused ");
  EXPECT_EQ(read_n(client, 3), " 0\n");
  int err = 0;
  EXPECT_EQ(read_end(client, err), 0) << "FIN after the answer, not a reset: " << strerror(err);
  wait_closed(1);
  EXPECT_EQ(closed_by(CloseReason::kConnectRefused), 1u);
}

TEST_F(SessionForward, WithoutAnAnswerAFailedDialResetsTheClient) {
  uint16_t port = 0;
  ::close(loopback_listener(1, port));
  int client = start_session(port, {});
  int err = 0;
  EXPECT_EQ(read_end(client, err), -1);
  EXPECT_EQ(err, ECONNRESET);
  wait_closed(1);
  EXPECT_EQ(closed_by(CloseReason::kConnectRefused), 1u);
}

TEST_F(SessionForward, ConnectTimeoutIsAnswered) {
  // A listener whose accept queue is full drops further SYNs: the dial hangs.
  uint16_t port = 0;
  track(loopback_listener(0, port));
  for (int i = 0; i < 2; ++i) track(test::loopback_connect(port, SOCK_NONBLOCK));
  std::this_thread::sleep_for(50ms);
  auto start = std::chrono::steady_clock::now();
  int client = start_session(port, {"", describe});
  EXPECT_EQ(read_n(client, 16), "connect_timeout ");
  auto waited = std::chrono::steady_clock::now() - start;
  // Deadlines run on the worker's 100 ms tick: the dial may end up to a tick early.
  EXPECT_GE(waited, config_.connect_timeout - Worker::kTick);
  EXPECT_LT(waited, 2s);
  wait_closed(1);
  EXPECT_EQ(closed_by(CloseReason::kConnectTimeout), 1u);
}

// Session never names a transport: whatever its connector hands back is the
// upstream, and the connector's refusal is the stream's reason.
TEST_F(SessionForward, DialsOnlyThroughItsConnector) {
  FakeConnector fake;
  fake.poller = &worker_->poller();
  uint16_t port = 0;
  int server_listener = track(loopback_listener(4, port));
  fake.port = port;
  worker_->set_connector(&fake);
  int client = start_session(1, {"", describe});  // asks for 127.0.0.1:1; the connector decides
  int server = track(::accept(server_listener, nullptr, nullptr));
  sockaddr_in seen{};
  socklen_t len = sizeof seen;
  ::getpeername(server, reinterpret_cast<sockaddr*>(&seen), &len);
  std::string expected = "done 127.0.0.1:" + std::to_string(port) + " " + std::to_string(ntohs(seen.sin_port)) + "\n";
  EXPECT_EQ(read_n(client, expected.size()), expected) << "the connector's upstream and local end";
  send_all(client, "ping");
  EXPECT_EQ(read_n(server, 4), "ping");
  ::shutdown(client, SHUT_WR);
  ::shutdown(server, SHUT_WR);
  wait_closed(1);
  EXPECT_EQ(fake.calls, 1);
  EXPECT_EQ(fake.asked, "127.0.0.1:1");
  EXPECT_FALSE(fake.guarded) << "a forward listener's destination is the operator's: no admin guard";
}

TEST_F(SessionForward, AConnectorsRefusalIsTheStreamsReason) {
  FakeConnector fake;
  fake.refusal = CloseReason::kNodeUnavailable;
  worker_->set_connector(&fake);
  int client = start_session(9, {"", describe});
  EXPECT_EQ(read_n(client, 17), "node_unavailable ");
  wait_closed(1);
  EXPECT_EQ(closed_by(CloseReason::kNodeUnavailable), 1u);
  EXPECT_EQ(fake.calls, 1);
}

}  // namespace
}  // namespace ugate

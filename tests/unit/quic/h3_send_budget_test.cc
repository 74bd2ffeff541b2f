// What a QUIC connection's writers may hold: each stream's cap, the
// connection's cap over all its streams, and the worker's send budget shared
// with HTTP/2. Two H3Connections in one process, their packets handed over
// through the io_context (no sockets), one a client, one a server that
// answers every CONNECT with 200.
#include <gtest/gtest.h>
#include <ngtcp2/ngtcp2.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <functional>
#include <optional>

#include "identity/ca.h"
#include "quic/h3_connection.h"
#include "runtime/buffer_pool.h"
#include "stream_test_util.h"
#include "temp_dir.h"
#include "tls_test_util.h"

namespace ugate::quic {
namespace {

using namespace std::chrono_literals;

// One end: its connection, and the host that carries its packets to the other end.
class End final : public ConnectionHost {
 public:
  End(asio::io_context& io, uint16_t port) : io_(io), self(asio::ip::make_address("127.0.0.1"), port) {}

  void bind_cid(const std::string&, H3Connection&) override {}
  void unbind_cid(const std::string&) override {}
  void send(std::span<const uint8_t> packet, const Udp::endpoint&) override {
    asio::post(io_, [this, p = std::vector<uint8_t>(packet.begin(), packet.end())] { peer->receive(p, self); });
  }
  void on_request(H3Connection&, std::unique_ptr<H3Stream> s, std::unique_ptr<h2::Message>) override {
    s->respond(200);
    if (on_stream) on_stream(*s);
    requests.push_back(std::move(s));
  }
  void on_handshake(H3Connection&, Handshake outcome, const std::string&) override { handshake = outcome; }
  void on_closed(H3Connection&) override { closed = true; }
  std::span<const uint8_t> reset_secret() const override { return secret_; }

  void receive(const std::vector<uint8_t>& p, const Udp::endpoint& from) {
    if (closed) return;
    if (!conn) {  // the server: its connection starts with the client's first Initial
      ngtcp2_pkt_hd hd;
      ASSERT_EQ(ngtcp2_accept(&hd, p.data(), p.size()), 0);
      conn = std::make_unique<H3Connection>(H3Connection::Role::kServer, *this, io_, buffers, budget, credentials,
                                            ConnectionOptions{});
      ASSERT_TRUE(conn->accept(hd, self, from, p));
      return;
    }
    conn->on_packet(p, self, from);
  }

  asio::io_context& io_;
  Udp::endpoint self;
  End* peer = nullptr;
  BufferPool buffers;
  std::shared_ptr<h2::SendBudget> budget;
  std::shared_ptr<const Credentials> credentials;
  std::unique_ptr<H3Connection> conn;
  std::vector<std::unique_ptr<H3Stream>> requests;  // server: the tunnels it answered
  std::function<void(H3Stream&)> on_stream;         // server: what to do with each
  std::optional<Handshake> handshake;
  bool closed = false;
  std::array<uint8_t, 32> secret_{};
};

class H3SendBudgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_.emplace(LocalCa::init(test::temp_dir("quic-ca") + "/ca", "mesh.test"));
    client_.peer = &server_;
    server_.peer = &client_;
    client_.credentials = std::make_shared<const Credentials>(*test::identity_from(*ca_, "client"));
    server_.credentials = std::make_shared<const Credentials>(*test::identity_from(*ca_, "server"));
    server_.budget = std::make_shared<h2::SendBudget>(io_);
  }

  // Runs the context until `done` holds or `limit` passed; true if it holds.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      if (io_.stopped()) io_.restart();
      io_.run_one_for(10ms);
      if (on_turn_) on_turn_();
    }
    return done();
  }

  void connect(std::shared_ptr<h2::SendBudget> budget) {
    client_.budget = std::move(budget);
    client_.conn = std::make_unique<H3Connection>(H3Connection::Role::kClient, client_, io_, client_.buffers,
                                                  client_.budget, client_.credentials, ConnectionOptions{});
    ASSERT_TRUE(client_.conn->connect(client_.self, server_.self, ""));
    ASSERT_TRUE(run_until([&] { return client_.handshake.has_value(); }));
    ASSERT_EQ(*client_.handshake, Handshake::kAccepted);
  }

  std::vector<std::unique_ptr<H3Stream>> open(size_t n) {
    std::vector<std::unique_ptr<H3Stream>> out;
    for (size_t i = 0; i < n; ++i) {
      auto s = client_.conn->open_tunnel("127.0.0.1:" + std::to_string(1000 + i), {});
      EXPECT_TRUE(s);
      if (s) out.push_back(std::move(s));
    }
    EXPECT_TRUE(run_until([&] { return server_.requests.size() == n; }));
    return out;
  }

  asio::io_context io_;
  std::optional<LocalCa> ca_;
  End client_{io_, 40001};
  End server_{io_, 40002};
  std::function<void()> on_turn_;
};

// 32 streams whose reader never reads: each could hold kSendQueue (8 MiB in
// all); the connection holds at most its cap, and the writers are refused.
TEST_F(H3SendBudgetTest, ConnectionCapBoundsWhatSlowReadersMakeItHold) {
  connect(std::make_shared<h2::SendBudget>(io_));
  auto streams = open(32);
  ASSERT_EQ(streams.size(), 32u);
  // Each answer's head was read as on HTTP/2 (h2::Message): 200, and the tunnel opens.
  auto answered = [&] {
    for (auto& s : streams) {
      error_code ec;
      char byte;
      s->try_read(asio::buffer(&byte, 1), ec);
      if (s->status() != 200) return false;
    }
    return true;
  };
  ASSERT_TRUE(run_until(answered));
  const std::string chunk(64 * 1024, 'x');
  const size_t cap = ConnectionOptions{}.send_queue;
  ASSERT_LT(cap, 32 * H3Stream::kSendQueue);
  for (int round = 0; round < 50; ++round) {  // write until nothing more is taken (the peer's windows are full)
    size_t taken = 0;
    for (auto& s : streams)
      for (;;) {
        error_code ec;
        size_t n = s->try_write(asio::buffer(chunk), ec);
        taken += n;
        if (ec) {
          EXPECT_EQ(ec, asio::error::would_block);
          break;
        }
      }
    if (taken == 0) break;
    run_until([] { return false; }, 100ms);
  }
  EXPECT_GT(client_.conn->queued(), cap / 2);
  EXPECT_LE(client_.conn->queued(), cap);
  EXPECT_EQ(client_.budget->used(), client_.conn->queued());
  for (auto& s : streams) EXPECT_EQ(s->write_room(), 0u);
  // The streams go: what they held leaves the budget.
  streams.clear();
  client_.conn->shut_down();
  EXPECT_EQ(client_.budget->used(), 0u);
}

// The worker's budget is smaller than what the writers want: they wait for
// room and every byte arrives, in order, each stream's on its own.
TEST_F(H3SendBudgetTest, WritersWaitForTheWorkersBudgetAndLoseNothing) {
  constexpr size_t kBudget = 512 * 1024;
  constexpr size_t kStreams = 8, kEach = 1 << 20;
  auto budget = std::make_shared<h2::SendBudget>(io_, kBudget);
  std::vector<std::string> received(kStreams);
  size_t ended = 0;
  server_.on_stream = [&](H3Stream& s) {
    const size_t i = server_.requests.size();
    asio::co_spawn(io_, [&s, &received, &ended, i]() -> asio::awaitable<void> {
      error_code ec;
      received[i] = co_await test::read_to_end(s, ec);
      EXPECT_FALSE(ec) << ec.message();
      ++ended;
    }, asio::detached);
  };
  connect(budget);
  auto streams = open(kStreams);
  ASSERT_EQ(streams.size(), kStreams);
  std::vector<std::string> sent(kStreams);
  size_t written = 0, peak = 0;
  for (size_t i = 0; i < kStreams; ++i) {
    sent[i].resize(kEach);
    for (size_t k = 0; k < kEach; ++k) sent[i][k] = static_cast<char>((k * 31 + i * 7) & 0xff);
    asio::co_spawn(io_, [&, i]() -> asio::awaitable<void> {
      error_code ec = co_await write_all(*streams[i], sent[i]);
      EXPECT_FALSE(ec) << ec.message();
      streams[i]->shutdown_write();
      ++written;
    }, asio::detached);
  }
  on_turn_ = [&] { peak = std::max(peak, budget->used()); };
  ASSERT_TRUE(run_until([&] { return ended == kStreams; }, 30s)) << written << " written, " << ended << " read";
  EXPECT_EQ(written, kStreams);
  EXPECT_GT(peak, kBudget / 2);
  EXPECT_LE(peak, kBudget);
  for (size_t i = 0; i < kStreams; ++i) EXPECT_TRUE(received[i] == sent[i]) << "stream " << i;
}

}  // namespace
}  // namespace ugate::quic

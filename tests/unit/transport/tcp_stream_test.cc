// TcpStream over the Poller: a short read spends the edge that woke the
// reader, so the next wait waits for new bytes instead of costing a recv
// that finds nothing (one system call per proxied message).
#include "transport/tcp_stream.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

namespace ugate {
namespace {

struct CountingWaiter : Waiter {
  int calls = 0;
  void on_ready(const error_code&) override { ++calls; }
};

class TcpStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    peer_ = fds[1];
    stream_ = std::make_unique<TcpStream>(fds[0], poller_, std::make_shared<StreamMeta>());
  }
  void TearDown() override {
    stream_.reset();
    poller_.shutdown();
    ::close(peer_);
  }
  void settle() {  // runs what is ready, giving the kernel's events a moment
    for (int i = 0; i < 5; ++i) {
      ctx_.poll();
      ctx_.restart();
      usleep(2000);
    }
  }
  std::string read(size_t size) {
    std::string buf(size, '\0');
    error_code ec;
    buf.resize(stream_->try_read(asio::buffer(buf), ec));
    return buf;
  }

  asio::io_context ctx_;
  Poller poller_{ctx_};
  int peer_ = -1;
  std::unique_ptr<TcpStream> stream_;
};

TEST_F(TcpStreamTest, AShortReadSpendsTheEdge) {
  ASSERT_EQ(::send(peer_, "x", 1, 0), 1);
  settle();  // the edge arrives with nobody waiting: kept
  EXPECT_EQ(read(64), "x");
  CountingWaiter w;
  stream_->wait_readable(w);
  settle();
  EXPECT_EQ(w.calls, 0) << "the socket was emptied: nothing to read until more comes";
  ASSERT_EQ(::send(peer_, "y", 1, 0), 1);
  settle();
  EXPECT_EQ(w.calls, 1);
  EXPECT_EQ(read(64), "y");
}

TEST_F(TcpStreamTest, AFullReadKeepsTheEdge) {
  ASSERT_EQ(::send(peer_, "xyz", 3, 0), 3);
  settle();
  EXPECT_EQ(read(2), "xy");  // the buffer was the limit: more may wait
  CountingWaiter w;
  stream_->wait_readable(w);
  settle();
  EXPECT_EQ(w.calls, 1);
  EXPECT_EQ(read(64), "z");
}

TEST_F(TcpStreamTest, TheEndAfterAShortReadStillAnswers) {
  ASSERT_EQ(::send(peer_, "last", 4, 0), 4);
  ::shutdown(peer_, SHUT_WR);
  settle();
  EXPECT_EQ(read(64), "last");
  CountingWaiter w;
  stream_->wait_readable(w);
  settle();
  EXPECT_EQ(w.calls, 1) << "the peer has finished: its EOF is still to be read";
}

}  // namespace
}  // namespace ugate

// The edge-triggered Poller: edges that arrive while nobody waits are kept,
// and a finished peer keeps answering read waits.
#include "runtime/poller.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

namespace ugate {
namespace {

struct CountingWaiter : Waiter {
  int calls = 0;
  error_code last;
  void on_ready(const error_code& ec) override {
    ++calls;
    last = ec;
  }
};

class PollerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0); }
  void TearDown() override {
    poller_.shutdown();
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  // Runs what is ready now, then gives the kernel's events a moment.
  void settle() {
    for (int i = 0; i < 5; ++i) {
      ctx_.poll();
      ctx_.restart();
      usleep(2000);
    }
  }
  std::string drain() {
    char buf[64];
    ssize_t n = ::recv(fds_[0], buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

  asio::io_context ctx_;
  Poller poller_{ctx_};
  Poller::Entry entry_;
  int fds_[2];
};

TEST_F(PollerTest, WaitingReaderIsCalledOnData) {
  ASSERT_FALSE(poller_.add(fds_[0], entry_));
  settle();  // the initial "writable" edge arrives with nobody waiting
  CountingWaiter w;
  poller_.wait_readable(entry_, w);
  settle();
  EXPECT_EQ(w.calls, 0) << "no data yet";
  ASSERT_EQ(::send(fds_[1], "x", 1, 0), 1);
  settle();
  EXPECT_EQ(w.calls, 1);
  EXPECT_FALSE(w.last);
}

// A descriptor handed to a new owner (TcpStream::release): the old entry is
// never called again, and the new one sees the bytes already queued, though
// their edge went to the old entry.
TEST_F(PollerTest, RemovedDescriptorCanBeAddedAgainWithItsDataStillReadable) {
  ASSERT_FALSE(poller_.add(fds_[0], entry_));
  ASSERT_EQ(::send(fds_[1], "x", 1, 0), 1);
  settle();
  CountingWaiter old_waiter;
  poller_.wait_writable(entry_, old_waiter);  // answered at once: the writable edge was kept
  settle();
  poller_.wait_writable(entry_, old_waiter);  // pending now
  poller_.remove(fds_[0], entry_);
  settle();
  EXPECT_EQ(old_waiter.calls, 2);
  EXPECT_EQ(old_waiter.last, asio::error::operation_aborted);
  Poller::Entry again;
  ASSERT_FALSE(poller_.add(fds_[0], again));
  CountingWaiter w;
  poller_.wait_readable(again, w);
  settle();
  EXPECT_EQ(w.calls, 1) << "adding reports what is queued";
  EXPECT_EQ(drain(), "x");
  ASSERT_EQ(::send(fds_[1], "y", 1, 0), 1);
  settle();
  EXPECT_EQ(old_waiter.calls, 2) << "the old entry is out of the set";
}

TEST_F(PollerTest, EdgeWithNobodyWaitingAnswersTheNextWait) {
  ASSERT_FALSE(poller_.add(fds_[0], entry_));
  ASSERT_EQ(::send(fds_[1], "x", 1, 0), 1);
  settle();
  CountingWaiter w;
  poller_.wait_readable(entry_, w);
  settle();
  EXPECT_EQ(w.calls, 1);
  EXPECT_EQ(drain(), "x");
  poller_.wait_readable(entry_, w);  // the edge was used: this one waits
  settle();
  EXPECT_EQ(w.calls, 1);
}

TEST_F(PollerTest, FinArrivingWithDataIsNotLost) {
  ASSERT_FALSE(poller_.add(fds_[0], entry_));
  CountingWaiter w;
  poller_.wait_readable(entry_, w);
  ASSERT_EQ(::send(fds_[1], "last", 4, 0), 4);
  ::shutdown(fds_[1], SHUT_WR);
  settle();
  ASSERT_EQ(w.calls, 1);
  EXPECT_EQ(drain(), "last");  // a short read: the EOF is still to be read
  poller_.wait_readable(entry_, w);
  settle();
  EXPECT_EQ(w.calls, 2) << "no further edge comes, yet the EOF must be read";
  EXPECT_EQ(drain(), "");
}

TEST_F(PollerTest, CancelEndsPendingWaitsWithAborted) {
  ASSERT_FALSE(poller_.add(fds_[0], entry_));
  settle();
  CountingWaiter r;
  poller_.wait_readable(entry_, r);
  poller_.cancel(entry_);
  settle();
  EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(r.last, asio::error::operation_aborted);
}

}  // namespace
}  // namespace ugate

// Worker::retire: an object is destroyed after the handler that retired it
// returns, in one batch with whatever else that handler retired; inside the
// poller's dispatch, when the dispatch ends, without a post.
#include "runtime/worker.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <optional>
#include <utility>

namespace ugate {
namespace {

struct Probe : Retirable {
  explicit Probe(int& destroyed) : destroyed(destroyed) {}
  ~Probe() override { ++destroyed; }
  int& destroyed;
};

// Retires another object from its destructor.
struct Chained : Retirable {
  Chained(Worker& w, Retirable* next) : w(w), next(next) {}
  ~Chained() override {
    if (next) w.retire(*next);
  }
  Worker& w;
  Retirable* next;
};

struct TrackedProbe : Tracked {
  explicit TrackedProbe(int& destroyed) : destroyed(destroyed) {}
  ~TrackedProbe() override { ++destroyed; }
  void on_tick(uint32_t) override {}
  void abort(CloseReason) override {}
  void describe(nlohmann::json& out, uint32_t) const override { out = {{"id", 1}}; }
  int& destroyed;
};

class RetireTest : public ::testing::Test {
 protected:
  asio::io_context& io() { return worker_->context(); }
  std::optional<Worker> worker_{std::in_place, 0u, nullptr};
};

TEST_F(RetireTest, DestroyedAfterTheHandlerInOneBatch) {
  int destroyed = 0;
  asio::post(io(), [&] {
    for (int i = 0; i < 3; ++i) worker_->retire(*new Probe(destroyed));
    EXPECT_EQ(destroyed, 0) << "never while the handler runs";
  });
  EXPECT_EQ(io().poll_one(), 1u);
  EXPECT_EQ(destroyed, 0);
  EXPECT_EQ(io().poll_one(), 1u) << "one reap for the batch";
  EXPECT_EQ(destroyed, 3);
  EXPECT_EQ(io().poll_one(), 0u) << "and nothing more";
}

TEST_F(RetireTest, WhatADestructorRetiresGoesInTheSameReap) {
  int destroyed = 0;
  auto* last = new Probe(destroyed);
  asio::post(io(), [&] { worker_->retire(*new Chained(*worker_, last)); });
  io().poll_one();
  EXPECT_EQ(io().poll_one(), 1u);
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(io().poll_one(), 0u) << "no second reap was posted";
}

TEST_F(RetireTest, TrackedLeavesTheWorkersListAtOnce) {
  int destroyed = 0;
  auto* t = new TrackedProbe(destroyed);
  worker_->track(*t);
  asio::post(io(), [&] {
    worker_->retire(*t);
    EXPECT_FALSE(t->is_linked()) << "no more ticks, drain or /debug/streams for it";
    EXPECT_EQ(destroyed, 0);
  });
  io().poll();  // the tick loop's start, the handler, the reap
  EXPECT_EQ(destroyed, 1);
}

TEST_F(RetireTest, WorkerTeardownDestroysWhatIsStillRetired) {
  int destroyed = 0;
  worker_->retire(*new Probe(destroyed));  // posted reap never runs
  worker_->retire(*new Probe(destroyed));
  worker_.reset();
  EXPECT_EQ(destroyed, 2);
}

// A readiness callback that retires the object both callbacks use.
struct Retiring : Waiter {
  Retiring(Worker& w, Probe*& shared, int& destroyed) : w(w), shared(shared), destroyed(destroyed) {}
  void on_ready(const error_code&) override {
    ++calls;
    alive_when_called = destroyed == 0;
    if (!shared) return;
    // Posted before the retire: a posted reap would run after this.
    asio::post(w.context(), [this] { destroyed_at_next_handler = destroyed; });
    w.retire(*std::exchange(shared, nullptr));
  }
  Worker& w;
  Probe*& shared;
  int& destroyed;
  int calls = 0;
  bool alive_when_called = false;
  int destroyed_at_next_handler = -1;
};

TEST_F(RetireTest, PollerDispatchReapsWhenItEndsWithoutAPost) {
  int a[2], b[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
  int destroyed = 0;
  Probe* shared = new Probe(destroyed);
  Retiring first(*worker_, shared, destroyed), second(*worker_, shared, destroyed);
  Poller::Entry ea, eb;
  Poller& poller = worker_->poller();
  ASSERT_FALSE(poller.add(a[0], ea));
  ASSERT_FALSE(poller.add(b[0], eb));
  poller.wait_readable(ea, first);
  poller.wait_readable(eb, second);
  ASSERT_EQ(::send(a[1], "x", 1, 0), 1);
  ASSERT_EQ(::send(b[1], "x", 1, 0), 1);
  for (int i = 0; i < 50 && (first.calls == 0 || second.calls == 0); ++i)
    io().run_one_for(std::chrono::milliseconds(10));
  ASSERT_EQ(first.calls, 1);
  ASSERT_EQ(second.calls, 1);
  EXPECT_TRUE(first.alive_when_called);
  EXPECT_TRUE(second.alive_when_called) << "both events came in one dispatch, which reaps only at its end";
  io().poll();
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(std::max(first.destroyed_at_next_handler, second.destroyed_at_next_handler), 1)
      << "the dispatch itself reaped: a handler posted before the retire saw it done";
  poller.cancel(ea);
  poller.cancel(eb);
  for (int fd : {a[0], a[1], b[0], b[1]}) ::close(fd);
}

}  // namespace
}  // namespace ugate

#include "runtime/worker.h"

#include "runtime/spawn.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

namespace ugate {

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

}  // namespace

Worker::Worker(unsigned index, AccessLogSink* access_log)
    : ctx_(std::make_unique<asio::io_context>(1)), index_(index), access_log_(access_log), retired_(*ctx_) {
  resolver_.emplace(ctx_->get_executor());
  poller_.emplace(*ctx_, &retired_);
  guard_.emplace(ctx_->get_executor());
}

Worker::~Worker() {
  stop_and_join();
  // Teardown is one batch: nothing posts a reap; retired objects go at the
  // points below, each before what they may still point into.
  RetireList::Batch teardown(&retired_);
  // Let streams still open end properly (stats, access log) before teardown.
  for (auto it = tracked_.begin(); it != tracked_.end();) (it++)->abort(CloseReason::kDrained);
  for (auto& s : services_) s->abort_all(CloseReason::kDrained);
  ctx_->restart();
  ctx_->poll();
  retired_.reap();
  services_.clear();  // their sockets and timers belong to the context
  retired_.reap();
  // Asio objects go before their context; the context goes before the state
  // that unfinished stream tasks still reference when they are destroyed.
  if (listeners_) listeners_->close_io();
  resolver_.reset();
  poller_->shutdown();
  ctx_.reset();
  retired_.reap();
  access_log_.flush();
}

void Worker::add_service(std::unique_ptr<WorkerService> service) { services_.push_back(std::move(service)); }

void Worker::spawn(asio::awaitable<void> task) { ugate::spawn(ctx_->get_executor(), std::move(task), "stream task"); }

void Worker::start() {
  if (listeners_) listeners_->start();
  for (auto& s : services_) s->start();
  thread_ = std::thread([this] {
    for (;;) {
      try {
        ctx_->run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("worker {}: {}", index_, e.what());
      }
    }
  });
}

void Worker::stop_accepting() {
  asio::post(*ctx_, [this] {
    if (listeners_) listeners_->drain();  // first: no new streams
    for (auto& s : services_) s->drain();
  });
}

void Worker::abort_all(CloseReason why) {
  asio::post(*ctx_, [this, why] {
    for (auto it = tracked_.begin(); it != tracked_.end();) (it++)->abort(why);
    for (auto& s : services_) s->abort_all(why);
  });
}

void Worker::stop_and_join() {
  guard_.reset();
  if (!thread_.joinable()) return;
  ctx_->stop();
  thread_.join();
}

asio::awaitable<nlohmann::json> Worker::describe_streams() {
  nlohmann::json out = nlohmann::json::array();
  for (const Tracked& t : tracked_) {
    nlohmann::json item;
    t.describe(item, now_tick_);
    item["worker"] = index_;
    out.push_back(std::move(item));
  }
  co_return out;
}

uint32_t Worker::clock_tick() const {
  return static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch() / kTick);
}

void Worker::track(Tracked& t) {
  tracked_.push_back(t);
  if (ticking_) return;
  // The sweep runs only while streams exist: an idle worker never wakes up.
  ticking_ = true;
  now_tick_ = clock_tick();
  ugate::spawn(ctx_->get_executor(), tick_loop(), "tick loop");
}

asio::awaitable<void> Worker::tick_loop() {
  asio::steady_timer timer(*ctx_);
  size_t peak = 0;
  while (!tracked_.empty()) {
    timer.expires_after(kTick);
    co_await timer.async_wait(use_nothrow);
    now_tick_ = clock_tick();
    size_t n = 0;
    for (auto it = tracked_.begin(); it != tracked_.end(); ++n) (it++)->on_tick(now_tick_);
    peak = std::max(peak, n);
    access_log_.flush();
  }
  ticking_ = false;
  access_log_.flush();
  if (peak >= kTrimAfter) release_memory();
}

// The worker went idle after a burst: cached buffers go, and the allocator
// gives freed pages back to the kernel (glibc keeps them otherwise), so RSS
// comes back to where it was before the burst.
void Worker::release_memory() {
  buffers_.clear();
  retired_.trim();
#ifdef __GLIBC__
  ::malloc_trim(0);
#endif
}

}  // namespace ugate

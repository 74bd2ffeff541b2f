#include "runtime/worker.h"

#include "runtime/spawn.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
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
using boost::system::error_code;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

}  // namespace

Worker::Worker(unsigned index, AccessLogSink* access_log)
    : ctx_(std::make_unique<asio::io_context>(1)), index_(index), access_log_(access_log) {
  resolver_.emplace(ctx_->get_executor());
  poller_.emplace(*ctx_);
  guard_.emplace(ctx_->get_executor());
}

Worker::~Worker() {
  stop_and_join();
  // Let streams still open end properly (stats, access log) before teardown.
  for (auto it = tracked_.begin(); it != tracked_.end();) (it++)->abort(CloseReason::kDrained);
  for (auto& s : services_) s->abort_all(CloseReason::kDrained);
  ctx_->restart();
  ctx_->poll();
  services_.clear();  // their sockets and timers belong to the context
  // Asio objects go before their context; the context goes before the state
  // that unfinished stream tasks still reference when they are destroyed.
  for (auto& slot : listeners_) {
    slot.acceptor.reset();
    slot.datagram.reset();
  }
  resolver_.reset();
  poller_->shutdown();
  ctx_.reset();
  access_log_.flush();
}

void Worker::add_listener(const ListenerConfig& config, Door door, std::atomic<uint64_t>& active_total,
                          asio::ip::tcp::acceptor acceptor, const ListenerAuth* auth) {
  listeners_.emplace_back(config, door, active_total, std::move(acceptor)).auth = auth;
}

void Worker::add_service(std::unique_ptr<WorkerService> service) { services_.push_back(std::move(service)); }

ListenerSlot* Worker::slot_of(const ListenerConfig* config) {
  for (auto& slot : listeners_)
    if (slot.config == config) return &slot;
  return nullptr;
}

void Worker::spawn(asio::awaitable<void> task) { ugate::spawn(ctx_->get_executor(), std::move(task), "stream task"); }

ListenerSlot& Worker::add_virtual_listener(const ListenerConfig& config, std::atomic<uint64_t>& active_total,
                                           const ListenerAuth* auth) {
  ListenerSlot& slot = listeners_.emplace_back(config, active_total);
  slot.auth = auth;
  return slot;
}

ListenerSlot& Worker::add_datagram_listener(const ListenerConfig& config, std::atomic<uint64_t>& active_total) {
  return listeners_.emplace_back(config, active_total);
}

void Worker::start() {
  for (auto& slot : listeners_) {
    if (slot.datagram) slot.datagram->start();
    else if (slot.acceptor) ugate::spawn(ctx_->get_executor(), accept_loop(slot), "accept loop");
  }
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
    for (auto& slot : listeners_) {
      error_code ignored;
      if (slot.acceptor) slot.acceptor->close(ignored);
      if (slot.datagram) slot.datagram->stop();
    }
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

uint64_t Worker::active_streams() const {
  uint64_t n = 0;
  for (const auto& slot : listeners_) n += slot.stats.active.get();
  return n;
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
#ifdef __GLIBC__
  ::malloc_trim(0);
#endif
}

asio::awaitable<void> Worker::accept_loop(ListenerSlot& slot) {
  // accept4 directly: sockets are born non-blocking and the peer address
  // comes with them (no ioctl, no getpeername); one readiness wait serves
  // every connection queued meanwhile.
  bool resource_error_logged = false;
  unsigned in_a_row = 0;
  asio::steady_timer pause(*ctx_);
  while (slot.acceptor && slot.acceptor->is_open()) {
    asio::ip::tcp::endpoint peer;
    socklen_t len = static_cast<socklen_t>(peer.capacity());
    int fd = ::accept4(slot.acceptor->native_handle(), peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        in_a_row = 0;
        auto [ec] = co_await slot.acceptor->async_wait(asio::socket_base::wait_read, use_nothrow);
        if (ec) break;  // closed: draining
        continue;
      }
      if (err == EINTR || err == ECONNABORTED) continue;
      if (err == EBADF || err == EINVAL) break;
      slot.stats.accept_errors.add();
      if (!resource_error_logged)
        spdlog::warn("listener {}: accept failed: {} (pausing accepts; counted in ugate_listener_accept_errors_total)",
                     slot.config->name, std::strerror(err));
      resource_error_logged = true;
      pause.expires_after(std::chrono::milliseconds(100));  // out of descriptors: retrying now would spin
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    peer.resize(len);
    slot.stats.accepted.add();
    if (slot.config->max_streams && slot.active_total->load(std::memory_order_relaxed) >= slot.config->max_streams) {
      slot.stats.closed_by_reason[static_cast<size_t>(CloseReason::kOverload)].add();
      slot.stats.closed.add();
      linger lg{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      ::close(fd);  // RST
      continue;
    }
    ugate::spawn(ctx_->get_executor(), slot.door(*this, slot, fd, peer), "stream task");
    // A flood of new connections must not starve the established ones.
    if (++in_a_row >= kAcceptBurst) {
      in_a_row = 0;
      co_await asio::post(*ctx_, asio::use_awaitable);
    }
  }
}

}  // namespace ugate

#include "runtime/poller.h"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <stdexcept>
#include <utility>

namespace ugate {

Poller::Poller(asio::io_context& ctx, RetireList* retired) : ctx_(ctx), retired_(retired) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw std::runtime_error("epoll_create1 failed");
  watch_.emplace(ctx_, epfd_);
  ready_.reserve(kBatch);
  arm();
}

Poller::~Poller() { shutdown(); }

void Poller::shutdown() {
  if (!watch_) return;
  error_code ignored;
  watch_->close(ignored);
  watch_.reset();
}

error_code Poller::add(int fd, Entry& entry) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &entry;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) return error_code(errno, boost::system::system_category());
  return {};
}

void Poller::post(Waiter& w, error_code ec) {
  asio::post(ctx_, [retired = retired_, &w, ec] {
    RetireList::Batch batch(retired);
    w.on_ready(ec);
  });
}

void Poller::wait_readable(Entry& entry, Waiter& w) {
  if (std::exchange(entry.readable, false) || entry.peer_done) post(w, {});
  else entry.reader = &w;
}

void Poller::wait_writable(Entry& entry, Waiter& w) {
  if (std::exchange(entry.writable, false)) post(w, {});
  else entry.writer = &w;
}

void Poller::cancel(Entry& entry) {
  Waiter* r = std::exchange(entry.reader, nullptr);
  Waiter* w = std::exchange(entry.writer, nullptr);
  if (!watch_) return;  // shutting down: nothing runs handlers any more
  if (r) post(*r, asio::error::operation_aborted);
  if (w) post(*w, asio::error::operation_aborted);
}

void Poller::remove(int fd, Entry& entry) {
  cancel(entry);
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

void Poller::arm() {
  watch_->async_wait(asio::posix::descriptor_base::wait_read, [this](const error_code& ec) {
    if (!ec) dispatch();
  });
}

void Poller::dispatch() {
  // What the callbacks retire goes when the dispatch ends, not per callback.
  RetireList::Batch batch(retired_);
  for (;;) {
    int n = ::epoll_wait(epfd_, events_.data(), kBatch, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    // First every flag and waiter, then the callbacks: a callback may close
    // sockets whose events are in this batch, but it cannot free a waiter
    // that is still waiting (see Proxy), and what it retires lives until the
    // dispatch ends, so the list stays valid.
    ready_.clear();
    for (int i = 0; i < n; ++i) {
      auto& e = *static_cast<Entry*>(events_[i].data.ptr);
      uint32_t ev = events_[i].events;
      if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) e.peer_done = true;
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (e.reader) ready_.push_back(std::exchange(e.reader, nullptr));
        else e.readable = true;
      }
      if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
        if (e.writer) ready_.push_back(std::exchange(e.writer, nullptr));
        else e.writable = true;
      }
    }
    for (Waiter* w : ready_) w->on_ready({});
    if (n < kBatch) break;
  }
  if (watch_) arm();
}

}  // namespace ugate

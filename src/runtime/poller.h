#pragma once
// Poller: a per-worker edge-triggered epoll set for proxied sockets.
//
// Each socket is registered once (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
// and closing it is its removal. Asio's reactor re-arms a descriptor with
// EPOLL_CTL_MOD on every wait and removes adopted descriptors with
// EPOLL_CTL_DEL; on short connections that doubled the epoll_ctl calls. The
// epoll set itself is one descriptor watched by the worker's io_context, so
// Asio still drives the loop, timers and everything else.
#include <sys/epoll.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <optional>
#include <vector>

#include "base/stream.h"
#include "runtime/retire.h"

namespace ugate {

class Poller {
 public:
  // Readiness of one socket. An edge that arrives while nobody waits is kept
  // in the flag and answers the next wait at once (edges are not repeated).
  // Once the peer has finished (RDHUP, HUP, ERR) every read wait is answered
  // at once: a read that returned data before the FIN does not consume it,
  // and no further edge would come.
  struct Entry {
    Waiter* reader = nullptr;
    Waiter* writer = nullptr;
    bool readable = false;
    bool writable = false;
    bool peer_done = false;
  };

  // Callbacks run inside a batch of `retired` (the worker's), when given.
  explicit Poller(asio::io_context& ctx, RetireList* retired = nullptr);
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  error_code add(int fd, Entry& entry);
  // One waiter of each kind per entry; it is called on the worker's thread.
  void wait_readable(Entry& entry, Waiter& w);
  void wait_writable(Entry& entry, Waiter& w);
  // Before the descriptor closes: pending waits end with operation_aborted.
  void cancel(Entry& entry);
  // Stops watching a descriptor that stays open (another owner takes it):
  // cancel(), then its removal from the set.
  void remove(int fd, Entry& entry);
  // Stops watching; afterwards cancel() drops waiters without calling them.
  void shutdown();
  // Calls w.on_ready(ec) soon, from the worker's loop (never from inside the caller).
  void post(Waiter& w, error_code ec);

 private:
  static constexpr int kBatch = 256;
  void arm();
  void dispatch();

  asio::io_context& ctx_;
  RetireList* retired_;
  std::optional<asio::posix::stream_descriptor> watch_;  // owns the epoll descriptor
  int epfd_ = -1;
  std::array<epoll_event, kBatch> events_{};
  std::vector<Waiter*> ready_;
};

}  // namespace ugate

#include "listener/worker_listeners.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

#include "base/cidr.h"
#include "runtime/spawn.h"
#include "runtime/unix_socket.h"

namespace ugate {
namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
}  // namespace

ListenerSlot& WorkerListeners::attach(ListenerSlot& slot) {
  auto& by_worker = slot.group->slots;
  if (by_worker.size() <= worker_.index()) by_worker.resize(worker_.index() + 1, nullptr);
  by_worker[worker_.index()] = &slot;
  return slot;
}

ListenerSlot& WorkerListeners::add(ListenerGroup& group, Door door, asio::ip::tcp::acceptor acceptor) {
  ListenerSlot& slot = slots_.emplace_back(group, door);
  boost::system::error_code ec;  // a closed acceptor (tests) has no address
  slot.bound = acceptor.local_endpoint(ec);
  slot.acceptor.emplace(std::move(acceptor));
  return attach(slot);
}

ListenerSlot& WorkerListeners::add_unix(ListenerGroup& group, Door door, int fd) {
  ListenerSlot& slot = slots_.emplace_back(group, door);
  slot.acceptor.emplace(worker_.context());
  boost::system::error_code ec;
  slot.acceptor->assign(asio::generic::stream_protocol(AF_UNIX, 0), fd, ec);
  if (ec) ::close(fd);  // the slot then has a closed acceptor: it accepts nothing
  return attach(slot);
}

ListenerSlot& WorkerListeners::add_datagram(ListenerGroup& group) { return attach(slots_.emplace_back(group)); }

ListenerSlot& WorkerListeners::add_virtual(ListenerGroup& group) { return attach(slots_.emplace_back(group)); }

uint64_t WorkerListeners::active_streams() const {
  uint64_t n = 0;
  for (const auto& slot : slots_) n += slot.stats.active.get();
  return n;
}

void WorkerListeners::start() {
  for (auto& slot : slots_) {
    if (slot.datagram) slot.datagram->start();
    if (slot.acceptor) spawn(worker_.context().get_executor(), accept_loop(slot), "accept loop");
  }
}

void WorkerListeners::drain() {
  for (auto& slot : slots_) {
    boost::system::error_code ignored;
    if (slot.acceptor) slot.acceptor->close(ignored);
    if (slot.datagram) slot.datagram->stop();
  }
}

void WorkerListeners::close_io() {
  for (auto& slot : slots_) {
    slot.acceptor.reset();
    slot.datagram.reset();
  }
}

asio::awaitable<void> WorkerListeners::accept_loop(ListenerSlot& slot) {
  // accept4 directly: sockets are born non-blocking and the peer address
  // comes with them (no ioctl, no getpeername); one readiness wait serves
  // every connection queued meanwhile.
  bool resource_error_logged = false;
  const bool unix_socket = slot.config->address.unix_socket;  // the peer is a process, not an address
  unsigned in_a_row = 0;
  asio::steady_timer pause(worker_.context());
  while (slot.acceptor && slot.acceptor->is_open()) {
    asio::ip::tcp::endpoint peer;
    socklen_t len = static_cast<socklen_t>(peer.capacity());
    int fd = ::accept4(slot.acceptor->native_handle(), unix_socket ? nullptr : peer.data(), unix_socket ? nullptr : &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
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
    if (!unix_socket) peer.resize(len);
    slot.stats.accepted.add();
    // A trusted balancer's connections are limited by the client its PROXY header names (the door's).
    const bool limited = !unix_socket && !in_any(slot.config->accept_proxy_protocol_from, peer.address());
    Result<Admission, CloseReason> admitted =
        limited && !slot.source_rate_allows(peer.address()) ? CloseReason::kRateLimited : slot.admit();
    if (!admitted) {
      slot.stats.closed_by_reason[static_cast<size_t>(admitted.error())].add();
      slot.stats.closed.add();
      linger lg{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      ::close(fd);  // RST
      continue;
    }
    AcceptedFrom from{peer, {}, {}, std::move(*admitted)};  // a named value: see "Coroutines and GCC 12"
    if (unix_socket && !(from.unix_peer = unix_peer_of(fd))) {
      slot.stats.accept_errors.add();  // rules by uid could not judge it: not let in unjudged
      ::close(fd);
      continue;
    }
    spawn(worker_.context().get_executor(), slot.door(worker_, slot, fd, std::move(from)), "stream task");
    // A flood of new connections must not starve the established ones.
    if (++in_a_row >= kAcceptBurst) {
      in_a_row = 0;
      co_await asio::post(worker_.context(), asio::use_awaitable);
    }
  }
}

}  // namespace ugate

// ugate-loadgen relay: the floor of a TCP proxy. See loadgen.cc.

#include "loadgen.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <thread>
#include <vector>

namespace loadgen {
namespace {

// What every TCP proxy has to do per connection, and nothing more, so that a benchmark can tell
// how far a proxy is from the floor the kernel sets: accept4, socket + connect, recv/send each
// way, one shutdown to pass the first EOF on, two closes (the second EOF needs no shutdown: the
// close sends the FIN), two epoll registrations (edge-triggered, for reading only). It reads
// only the socket that signalled, stops at a short read (the edge-triggered set signals again
// when more arrives), and waits for writability only after a short write.
class Relay {
 public:
  Relay(int lfd, Endpoint target) : lfd_(lfd), target_(target), epfd_(epoll_create1(EPOLL_CLOEXEC)) {
    if (epfd_ < 0) die_errno("epoll_create1");
    epoll_event ev{EPOLLIN | EPOLLET, {.ptr = nullptr}};
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, lfd_, &ev) != 0) die_errno("epoll_ctl");
  }

  [[noreturn]] void run() {
    std::vector<epoll_event> events(512);
    for (;;) {
      int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), -1);
      if (n < 0 && errno != EINTR) die_errno("epoll_wait");
      for (int i = 0; i < n; ++i) {
        auto* side = static_cast<Side*>(events[i].data.ptr);
        if (!side) accept_all();
        else if (!side->pair->closed) on_event(*side, events[i].events);
      }
      for (Pair* p : closed_) delete p;  // after the batch: its other side may be in it too
      closed_.clear();
    }
  }

 private:
  struct Pair;
  struct Side {
    Pair* pair;
    int fd;
    bool eof = false;     // read EOF from fd
    std::string pending;  // bytes for fd that it did not take yet (fd is then watched for EPOLLOUT)
  };
  struct Pair {
    Side s[2];  // 0: the client, 1: the upstream
    bool closed = false;
  };
  static constexpr uint32_t kRead = EPOLLIN | EPOLLRDHUP | EPOLLET;

  void accept_all() {
    for (;;) {
      int c = accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) return;  // EAGAIN, or an error to try again on the next connection
      int u = socket(target_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (u < 0) {
        close(c);
        continue;
      }
      set_nodelay(u);
      if (connect(u, reinterpret_cast<const sockaddr*>(&target_.addr), target_.len) != 0 && errno != EINPROGRESS) {
        close(u);
        close(c);
        continue;
      }
      auto* p = new Pair{{{nullptr, c}, {nullptr, u}}};
      for (Side& side : p->s) {
        side.pair = p;
        epoll_event ev{kRead, {.ptr = &side}};
        epoll_ctl(epfd_, EPOLL_CTL_ADD, side.fd, &ev);
      }
    }
  }

  static Side& other(Side& s) { return &s == &s.pair->s[0] ? s.pair->s[1] : s.pair->s[0]; }

  void on_event(Side& s, uint32_t events) {
    Pair* p = s.pair;
    bool ok = true;
    if (events & EPOLLOUT) {
      // s takes bytes again: flush what waited, then read its peer, which was left unread meanwhile.
      ok = flush(s) && (!s.pending.empty() || pump(other(s), s, true));
    }
    // A hang-up (EOF or error) may come with the last bytes: read on to it instead of stopping at a short read.
    if (ok && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
      ok = pump(s, other(s), events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
    if (!ok || done(*p)) destroy(p);
  }

  static bool done(const Pair& p) {
    return p.s[0].eof && p.s[1].eof && p.s[0].pending.empty() && p.s[1].pending.empty();
  }

  // Sends to.pending, then stops waiting for writability once it is empty; false on a broken connection.
  bool flush(Side& to) {
    ssize_t w = send(to.fd, to.pending.data(), to.pending.size(), MSG_NOSIGNAL);
    if (w < 0) return errno == EAGAIN;
    to.pending.erase(0, static_cast<size_t>(w));
    if (to.pending.empty()) watch_out(to, false);
    return true;
  }

  void watch_out(Side& s, bool on) {
    epoll_event ev{on ? kRead | EPOLLOUT : kRead, {.ptr = &s}};
    epoll_ctl(epfd_, EPOLL_CTL_MOD, s.fd, &ev);
  }

  // Moves what `from` has to `to` until a short read (or, `to_end`, until EAGAIN or EOF) or until `to`
  // is full; false on a broken connection. The first EOF is passed on with a shutdown; the second
  // needs none, as the pair is closed next. (Nothing is read while bytes wait for `to`, so an EOF,
  // and the shutdown it passes on, never comes before them.)
  bool pump(Side& from, Side& to, bool to_end) {
    while (!from.eof && to.pending.empty()) {
      ssize_t r = recv(from.fd, buf_, sizeof buf_, 0);
      if (r < 0) return errno == EAGAIN;
      if (r == 0) {
        from.eof = true;
        if (!to.eof) shutdown(to.fd, SHUT_WR);
        return true;
      }
      ssize_t w = send(to.fd, buf_, static_cast<size_t>(r), MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) return false;
      if (w < r) {
        to.pending.assign(buf_ + std::max<ssize_t>(w, 0), buf_ + r);
        watch_out(to, true);
        return true;
      }
      if (static_cast<size_t>(r) < sizeof buf_ && !to_end) return true;  // drained: the next bytes signal again
    }
    return true;
  }

  void destroy(Pair* p) {
    close(p->s[0].fd);  // also leaves the epoll set
    close(p->s[1].fd);
    p->closed = true;
    closed_.push_back(p);
  }

  int lfd_;
  Endpoint target_;
  int epfd_;
  std::vector<Pair*> closed_;
  char buf_[64 * 1024];
};

}  // namespace

int cmd_relay(const Options& opt) {
  Endpoint target = parse_endpoint(opt.str("target"));
  Endpoint ep = parse_endpoint(opt.str("listen"));
  long threads = std::max(1L, opt.num("threads", 1));
  std::vector<int> listeners;
  // The first binds (port 0: any), the others share its port.
  for (long i = 0; i < threads; ++i) listeners.push_back(listening_socket(ep, SOCK_NONBLOCK, SO_REUSEPORT));
  announce_port(ep);
  for (size_t i = 1; i < listeners.size(); ++i) {
    std::thread([lfd = listeners[i], target] { Relay(lfd, target).run(); }).detach();
  }
  Relay(listeners[0], target).run();
}

}  // namespace loadgen

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
// way, shutdown on EOF, two closes, two epoll registrations (edge-triggered, never modified).
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
        else if (!side->pair->closed) on_event(*side);
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
    std::string pending;  // bytes for fd that it did not take yet
  };
  struct Pair {
    Side s[2];  // 0: the client, 1: the upstream
    bool closed = false;
  };

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
        epoll_event ev{EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, {.ptr = &side}};
        epoll_ctl(epfd_, EPOLL_CTL_ADD, side.fd, &ev);
      }
    }
  }

  static Side& other(Side& s) { return &s == &s.pair->s[0] ? s.pair->s[1] : s.pair->s[0]; }

  void on_event(Side& s) {
    Pair* p = s.pair;
    // s may take bytes again: flush what waited for it, then carry on reading its peer.
    if (!flush(s) || !pump(other(s), s) || !pump(s, other(s))) return destroy(p);
    if (p->s[0].eof && p->s[1].eof && p->s[0].pending.empty() && p->s[1].pending.empty()) destroy(p);
  }

  // Sends to.pending; false on a broken connection. (pump reads nothing while bytes wait for
  // `to`, so an EOF, and the shutdown it passes on, never comes before them.)
  static bool flush(Side& to) {
    if (to.pending.empty()) return true;
    ssize_t w = send(to.fd, to.pending.data(), to.pending.size(), MSG_NOSIGNAL);
    if (w < 0) return errno == EAGAIN;
    to.pending.erase(0, static_cast<size_t>(w));
    return true;
  }

  // Moves what `from` has to `to` until from is empty or to is full; false on a broken connection.
  bool pump(Side& from, Side& to) {
    while (!from.eof && to.pending.empty()) {
      ssize_t r = recv(from.fd, buf_, sizeof buf_, 0);
      if (r < 0) return errno == EAGAIN;
      if (r == 0) {
        from.eof = true;
        shutdown(to.fd, SHUT_WR);
        return true;
      }
      ssize_t w = send(to.fd, buf_, static_cast<size_t>(r), MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) return false;
      if (w < r) to.pending.assign(buf_ + std::max<ssize_t>(w, 0), buf_ + r);
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

// ugate-loadgen's servers: echo (the upstream of connrate, latency and idle) and sink (the
// throughput client's peer). See loadgen.cc.

#include "loadgen.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace loadgen {
namespace {

// One thread per connection: a throughput test has one or two, and blocking I/O keeps it plain.
void sink_connection(int fd) {
  char head[5];
  bool ok = recv_all(fd, head, 1);
  if (ok && head[0] == 0x16 && recv_all(fd, head + 1, 4)) {  // a TLS record: skip its body
    std::vector<char> skip((static_cast<uint8_t>(head[3]) << 8) | static_cast<uint8_t>(head[4]));
    ok = recv_all(fd, skip.data(), skip.size()) && recv_all(fd, head, 1);
  }
  std::vector<char> buf(kThroughputChunk, 'x');
  if (ok && head[0] == 'D') {
    while (send_all(fd, buf.data(), buf.size())) {
    }
  } else if (ok && head[0] == 'U') {
    while (recv(fd, buf.data(), buf.size(), 0) > 0) {
    }
  }
  close(fd);
}

}  // namespace

// ---- echo -------------------------------------------------------------------------------------

// Level-triggered epoll. A connection whose peer does not read fast enough keeps its unsent
// bytes and stops being read until they are gone (backpressure, bounded memory).
int cmd_echo(const Options& opt) {
  int lfd = listen_and_announce(opt, SOCK_NONBLOCK);

  int epfd = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{EPOLLIN, {.fd = lfd}};
  epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);

  std::vector<std::string> pending;  // unsent bytes, indexed by fd
  std::vector<char> buf(64 * 1024);
  std::vector<epoll_event> events(1024);
  auto watch = [&](int fd, uint32_t what) {
    epoll_event e{what, {.fd = fd}};
    epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &e);
  };
  auto drop = [&](int fd) {
    pending[fd].clear();
    pending[fd].shrink_to_fit();
    close(fd);  // also removes it from the epoll set
  };
  for (;;) {
    int n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0 && errno != EINTR) die_errno("epoll_wait");
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) perror("ugate-loadgen: accept");
            break;
          }
          set_nodelay(c);
          if (static_cast<size_t>(c) >= pending.size()) pending.resize(c + 1024);
          epoll_event e{EPOLLIN, {.fd = c}};
          epoll_ctl(epfd, EPOLL_CTL_ADD, c, &e);
        }
        continue;
      }
      std::string& out = pending[fd];
      if (!out.empty()) {  // waiting for EPOLLOUT
        ssize_t w = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) { drop(fd); continue; }
        if (w > 0) out.erase(0, static_cast<size_t>(w));
        if (out.empty()) watch(fd, EPOLLIN);
        continue;
      }
      ssize_t r = recv(fd, buf.data(), buf.size(), 0);
      if (r == 0 || (r < 0 && errno != EAGAIN)) { drop(fd); continue; }
      if (r < 0) continue;
      ssize_t w = send(fd, buf.data(), static_cast<size_t>(r), MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) { drop(fd); continue; }
      if (w < r) {
        out.assign(buf.data() + std::max<ssize_t>(w, 0), buf.data() + r);
        watch(fd, EPOLLOUT);
      }
    }
  }
}

// ---- sink -------------------------------------------------------------------------------------

int cmd_sink(const Options& opt) {
  int lfd = listen_and_announce(opt, 0);
  for (;;) {
    int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != ECONNABORTED) die_errno("accept");
      continue;
    }
    set_io_timeout(fd, 10);  // a client that vanished must not pin a thread forever
    std::thread(sink_connection, fd).detach();
  }
}

}  // namespace loadgen

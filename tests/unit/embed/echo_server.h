#pragma once
// A loopback TCP echo server on its own thread (poll, no ugate code), for the
// streams the C API tests open through a gateway.
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "loopback.h"

namespace ugate::test {

class EchoServer {
 public:
  EchoServer() {
    listener_ = loopback_listener(1024, port_);
    thread_ = std::thread([this] { run(); });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    for (int fd : clients_) ::close(fd);
    ::close(listener_);
  }
  uint16_t port() const { return port_; }
  size_t accepted() const { return accepted_.load(); }

 private:
  void run() {
    char buf[16384];
    while (!stop_) {
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      for (int fd : clients_) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int c = ::accept(listener_, nullptr, nullptr);
        if (c >= 0) {
          clients_.push_back(c);
          accepted_++;
        }
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n > 0) {
          for (ssize_t off = 0; off < n;) {  // blocking socket: writes all of it
            ssize_t w = ::write(fds[i].fd, buf + off, n - off);
            if (w <= 0) break;
            off += w;
          }
          continue;
        }
        ::close(fds[i].fd);
        std::erase(clients_, fds[i].fd);
      }
    }
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> accepted_{0};
  std::vector<int> clients_;  // the server thread's
  std::thread thread_;
};

}  // namespace ugate::test

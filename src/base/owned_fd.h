#pragma once
// A descriptor on its way somewhere (posted to another worker, say): closed
// with its holder unless handed on, so a task that never runs leaks nothing.
#include <unistd.h>

#include <utility>

namespace ugate {

struct OwnedFd {
  explicit OwnedFd(int f) : fd(f) {}
  OwnedFd(OwnedFd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  OwnedFd& operator=(OwnedFd&&) = delete;
  ~OwnedFd() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
  int fd;
};

}  // namespace ugate

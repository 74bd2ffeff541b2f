#pragma once
// Loopback sockets for tests that drive real connections.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>

namespace ugate::test {

inline sockaddr_in loopback_address(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return addr;
}

// A listening socket on 127.0.0.1 and a port the kernel picked.
inline int loopback_listener(int backlog, uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = loopback_address(0);
  socklen_t len = sizeof addr;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  EXPECT_EQ(::listen(fd, backlog), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  port = ntohs(addr.sin_port);
  return fd;
}

// A client socket connecting to 127.0.0.1:port (`type_flags` e.g. SOCK_NONBLOCK).
inline int loopback_connect(uint16_t port, int type_flags = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | type_flags, 0);
  sockaddr_in addr = loopback_address(port);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (!(type_flags & SOCK_NONBLOCK)) {
    EXPECT_EQ(rc, 0);
  }
  return fd;
}

}  // namespace ugate::test

#pragma once
// Unix stream sockets: their addresses (a path, or "@name" in the abstract
// namespace), a listener's socket and its file, and who is at the other end.
// The byte stream itself is a TcpStream like any other: only the TCP options
// (TCP_NODELAY, keepalive, SO_ORIGINAL_DST) are not set on these.
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <cstdint>
#include <optional>
#include <string>

#include "base/endpoint.h"
#include "base/meta.h"

namespace ugate {

// A Unix socket listener's file (address: unix:/PATH): made with this mode and
// owner, and removed at exit. An abstract socket (unix:@NAME) has no file.
struct UnixSocketFile {
  uint32_t mode = 0660;           // the owner and group may connect; nobody else
  std::optional<uint32_t> owner;  // uid; unset: the process's
  std::optional<uint32_t> group;  // gid; unset: the process's
};

// The socket address of `path` ("/run/x.sock", or "@name": abstract); its length.
socklen_t unix_sockaddr(const std::string& path, sockaddr_un& out);

// A listening socket, and its file, which it removes when it goes if the file
// is still the one it made (a successor may have replaced it meanwhile).
class UnixListenSocket {
 public:
  // Throws StartError naming `what`. A file already at the path is removed
  // first when it is a socket nobody listens on (left by a process that
  // died); any other file, or a socket in use, is an error.
  UnixListenSocket(const HostPort& address, const UnixSocketFile& file, const std::string& what);
  ~UnixListenSocket();
  UnixListenSocket(const UnixListenSocket&) = delete;
  UnixListenSocket& operator=(const UnixListenSocket&) = delete;

  // Descriptors of the socket for the workers' acceptors (no SO_REUSEPORT for
  // Unix sockets: they share one socket, and whoever is free accepts). The
  // last call hands over the socket's own descriptor; the file stays this
  // object's to remove. -1 when out of descriptors.
  int descriptor_for_worker(bool last);

 private:
  void close_and_unlink();

  int fd_ = -1;
  std::string path_;  // "" for an abstract socket
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

// The peer of an accepted Unix socket (SO_PEERCRED); nullopt if the kernel does not say.
std::optional<UnixPeer> unix_peer_of(int fd);

}  // namespace ugate

#include "runtime/unix_socket.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <utility>

#include "runtime/listen_socket.h"

namespace ugate {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, const std::string& problem) {
  throw StartError(what + ": cannot listen on unix:" + path + ": " + problem);
}

std::string errno_text(int err) { return std::strerror(err); }

// Whether a process accepts connections on the socket file at `path`.
bool in_use(const std::string& path) {
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  sockaddr_un sa{};
  socklen_t len = unix_sockaddr(path, sa);
  bool answered = ::connect(probe, reinterpret_cast<sockaddr*>(&sa), len) == 0 || errno == EAGAIN;
  ::close(probe);
  return answered;
}

// A file left at the path: removed when it is a socket nobody listens on.
void remove_stale(const std::string& path, const std::string& what) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) return;  // nothing there
  if (!S_ISSOCK(st.st_mode)) fail(what, path, "a file that is not a socket is in the way (remove it, or pick another path)");
  if (in_use(path)) fail(what, path, "another process is listening on it");
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail(what, path, "cannot remove the stale socket: " + errno_text(errno));
}

}  // namespace

socklen_t unix_sockaddr(const std::string& path, sockaddr_un& out) {
  out = {};
  out.sun_family = AF_UNIX;
  const bool abstract = path.starts_with('@');
  // parse_unix_address keeps paths below sizeof(sun_path); the bound is for anyone else.
  const size_t n = std::min(path.size(), sizeof(out.sun_path) - 1);
  std::memcpy(out.sun_path, path.data(), n);
  if (abstract) out.sun_path[0] = '\0';  // the name is the bytes after it, no terminator
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n + (abstract ? 0 : 1));
}

UnixListenSocket::UnixListenSocket(const HostPort& address, const UnixSocketFile& file, const std::string& what) {
  const std::string& path = address.host;
  const bool abstract = path.starts_with('@');
  if (!abstract) remove_stale(path, what);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail(what, path, errno_text(errno));
  sockaddr_un sa{};
  socklen_t len = unix_sockaddr(path, sa);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    std::string hint = err == ENOENT   ? " (its directory must exist)"
                       : err == EACCES ? " (no write permission on its directory)"
                       : err == EADDRINUSE ? " (another process is listening on it)"
                                           : "";
    fail(what, path, errno_text(err) + hint);
  }
  if (!abstract) {
    path_ = path;
    // Mode and owner before listen(): until then a connect is refused, so no
    // client gets in under the umask's permissions.
    std::string problem;
    if (::chmod(path.c_str(), file.mode) != 0) problem = "chmod: " + errno_text(errno);
    if (problem.empty() && (file.owner || file.group) &&
        ::lchown(path.c_str(), file.owner ? *file.owner : static_cast<uid_t>(-1),
                 file.group ? *file.group : static_cast<gid_t>(-1)) != 0)
      problem = "chown: " + errno_text(errno) + (errno == EPERM ? " (changing the owner needs CAP_CHOWN)" : "");
    struct stat st{};
    if (problem.empty() && ::lstat(path.c_str(), &st) == 0) dev_ = st.st_dev, ino_ = st.st_ino;
    if (!problem.empty()) {
      close_and_unlink();
      fail(what, path, problem);
    }
  }
  if (::listen(fd_, SOMAXCONN) != 0) {
    int err = errno;
    close_and_unlink();
    fail(what, path, errno_text(err));
  }
}

UnixListenSocket::~UnixListenSocket() { close_and_unlink(); }

void UnixListenSocket::close_and_unlink() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (path_.empty()) return;
  struct stat st{};
  // ino_ 0: the constructor failed just after bind(), and the file is the one it made.
  if (::lstat(path_.c_str(), &st) == 0 && (ino_ == 0 || (st.st_dev == dev_ && st.st_ino == ino_))) ::unlink(path_.c_str());
  path_.clear();
}

int UnixListenSocket::descriptor_for_worker(bool last) {
  return last ? std::exchange(fd_, -1) : ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
}

std::optional<UnixPeer> unix_peer_of(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) return std::nullopt;
  return UnixPeer{cred.pid, cred.uid, cred.gid};
}

}  // namespace ugate

#include "transport/tcp_stream.h"
#include "runtime/socket_protect.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/error.hpp>
#include <cerrno>

#include "runtime/unix_socket.h"

namespace ugate {
namespace {
error_code last_error() { return error_code(errno, boost::system::system_category()); }

// Proxied sockets have no Nagle delay: small messages must not wait 40 ms.
// (Accepted sockets inherit it from their listener.)
void set_no_delay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
}  // namespace

TcpStream::TcpStream(int fd, Poller& poller, std::shared_ptr<StreamMeta> meta)
    : Stream(std::move(meta)), fd_(fd), poller_(poller) {
  if (fd_ >= 0 && poller_.add(fd_, entry_)) {
    ::close(fd_);  // out of epoll resources: every operation on the stream now fails
    fd_ = -1;
  }
}

TcpStream::~TcpStream() { close(); }

namespace {
// A non-blocking socket of `family`, registered, then connect(2) started.
std::unique_ptr<TcpStream> start_connect(int family, const sockaddr* to, socklen_t len, Poller& poller,
                                         std::shared_ptr<StreamMeta> meta, int& err) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno;
    return nullptr;
  }
  if (family != AF_UNIX && !protect_socket(fd)) {  // the embedding program refused it
    ::close(fd);
    err = EPERM;
    return nullptr;
  }
  if (family != AF_UNIX) set_no_delay(fd);
  // Registered before connect(2), so the edge of its completion cannot be missed.
  auto stream = std::make_unique<TcpStream>(fd, poller, std::move(meta));
  err = stream->splice_fd() < 0 ? ENOMEM : ::connect(fd, to, len) == 0 ? 0 : errno;
  return stream;
}
}  // namespace

std::unique_ptr<TcpStream> TcpStream::connect(const TcpEndpoint& to, Poller& poller,
                                              std::shared_ptr<StreamMeta> meta, int& err) {
  return start_connect(to.protocol().family(), to.data(), static_cast<socklen_t>(to.size()), poller, std::move(meta),
                       err);
}

std::unique_ptr<TcpStream> TcpStream::connect_unix(const std::string& path, Poller& poller,
                                                   std::shared_ptr<StreamMeta> meta, int& err) {
  sockaddr_un to{};
  socklen_t len = unix_sockaddr(path, to);
  return start_connect(AF_UNIX, reinterpret_cast<const sockaddr*>(&to), len, poller, std::move(meta), err);
}

int TcpStream::socket_error() const {
  int err = EBADF;
  socklen_t len = sizeof err;
  if (fd_ >= 0) ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  return err;
}

TcpEndpoint TcpStream::local_endpoint() const {
  TcpEndpoint ep;
  socklen_t len = static_cast<socklen_t>(ep.capacity());
  if (fd_ < 0 || ::getsockname(fd_, ep.data(), &len) != 0) return {};
  if (len > ep.capacity() || (ep.data()->sa_family != AF_INET && ep.data()->sa_family != AF_INET6))
    return {};  // a Unix socket has no IP address
  ep.resize(len);
  return ep;
}

std::size_t TcpStream::try_read(asio::mutable_buffer buf, error_code& ec) {
  ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
  ec = n > 0 ? error_code() : n == 0 ? error_code(asio::error::eof) : last_error();
  // A short read emptied the socket: the edge that said it was readable is
  // spent, and bytes that come later bring their own. Without this the next
  // wait would answer at once and cost a recv that finds nothing.
  if (n > 0 && static_cast<size_t>(n) < buf.size()) entry_.readable = false;
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

std::size_t TcpStream::peek(asio::mutable_buffer buf, error_code& ec) {
  ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_PEEK);
  ec = n > 0 ? error_code() : n == 0 ? error_code(asio::error::eof) : last_error();
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

std::size_t TcpStream::try_write(asio::const_buffer buf, error_code& ec) {
  ssize_t n = ::send(fd_, buf.data(), buf.size(), MSG_NOSIGNAL);
  ec = n >= 0 ? error_code() : last_error();
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

void TcpStream::wait_readable(Waiter& w) {
  if (fd_ < 0) {
    entry_.reader = &w;  // closed: the cancel below answers it
    poller_.cancel(entry_);
    return;
  }
  poller_.wait_readable(entry_, w);
}

void TcpStream::wait_writable(Waiter& w) {
  if (fd_ < 0) {
    entry_.writer = &w;
    poller_.cancel(entry_);
    return;
  }
  poller_.wait_writable(entry_, w);
}

void TcpStream::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void TcpStream::reset() {
  if (fd_ < 0) return;
  linger lg{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);  // close() now sends RST
  close();
}

int TcpStream::release() {
  int fd = fd_;
  if (fd >= 0) poller_.remove(fd, entry_);
  fd_ = -1;
  return fd;
}

void TcpStream::close() {
  if (fd_ < 0) return;
  poller_.cancel(entry_);
  ::close(fd_);  // also its removal from the epoll set
  fd_ = -1;
}

}  // namespace ugate

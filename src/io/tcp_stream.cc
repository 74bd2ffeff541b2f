#include "io/tcp_stream.h"

#include <sys/socket.h>

namespace ugate {

void prepare_proxied_socket(asio::ip::tcp::socket& s) {
  error_code ignored;
  s.set_option(asio::ip::tcp::no_delay(true), ignored);
}

namespace {
error_code last_error() { return error_code(errno, boost::system::system_category()); }
}  // namespace

TcpStream::TcpStream(asio::ip::tcp::socket socket, std::shared_ptr<StreamMeta> meta)
    : Stream(std::move(meta)), socket_(std::move(socket)) {}

// Plain recv/send: the descriptor is non-blocking from birth (accept4,
// socket with SOCK_NONBLOCK), which Asio's own calls would not know.
std::size_t TcpStream::try_read(asio::mutable_buffer buf, error_code& ec) {
  ssize_t n = ::recv(socket_.native_handle(), buf.data(), buf.size(), 0);
  ec = n > 0 ? error_code() : n == 0 ? error_code(asio::error::eof) : last_error();
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

std::size_t TcpStream::try_write(asio::const_buffer buf, error_code& ec) {
  ssize_t n = ::send(socket_.native_handle(), buf.data(), buf.size(), MSG_NOSIGNAL);
  ec = n >= 0 ? error_code() : last_error();
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

// The handler holds one pointer, so Asio's small-object cache serves it.
void TcpStream::wait_readable(Waiter& w) {
  socket_.async_wait(asio::socket_base::wait_read, [&w](const error_code& ec) { w.on_ready(ec); });
}

void TcpStream::wait_writable(Waiter& w) {
  socket_.async_wait(asio::socket_base::wait_write, [&w](const error_code& ec) { w.on_ready(ec); });
}

void TcpStream::shutdown_write() {
  error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_send, ignored);
}

void TcpStream::reset() {
  error_code ignored;
  if (!socket_.is_open()) return;
  socket_.set_option(asio::socket_base::linger(true, 0), ignored);
  socket_.close(ignored);  // an explicit close keeps the linger option: RST
}

void TcpStream::close() {
  error_code ignored;
  socket_.close(ignored);
}

int TcpStream::splice_fd() const {
  // native_handle() is not const in Asio, though it changes nothing.
  return socket_.is_open() ? const_cast<asio::ip::tcp::socket&>(socket_).native_handle() : -1;
}

}  // namespace ugate

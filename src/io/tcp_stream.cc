#include "io/tcp_stream.h"

namespace ugate {

void prepare_proxied_socket(asio::ip::tcp::socket& s) {
  error_code ignored;
  s.set_option(asio::ip::tcp::no_delay(true), ignored);
  s.non_blocking(true, ignored);
}

std::string format_endpoint(const asio::ip::tcp::endpoint& ep) {
  std::string addr = ep.address().to_string();
  return (ep.address().is_v6() ? "[" + addr + "]" : addr) + ":" + std::to_string(ep.port());
}

TcpStream::TcpStream(asio::ip::tcp::socket socket, std::shared_ptr<StreamMeta> meta)
    : Stream(std::move(meta)), socket_(std::move(socket)) {}

std::size_t TcpStream::try_read(asio::mutable_buffer buf, error_code& ec) {
  return socket_.read_some(buf, ec);  // the socket is non-blocking
}

std::size_t TcpStream::try_write(asio::const_buffer buf, error_code& ec) {
  return socket_.write_some(buf, ec);
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

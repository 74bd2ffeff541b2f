#pragma once
// A Stream over a plain TCP socket (the one transport the splice path can
// use), registered once with the worker's Poller.
#include <memory>

#include "core/stream.h"
#include "io/poller.h"

namespace ugate {

class TcpStream final : public Stream {
 public:
  // Takes a connected (or connecting), non-blocking socket descriptor.
  TcpStream(int fd, Poller& poller, std::shared_ptr<StreamMeta> meta);
  ~TcpStream() override;

  // Starts a non-blocking connect: the stream, and in `err` 0 (connected),
  // EINPROGRESS (wait_writable, then socket_error()) or the failure.
  static std::unique_ptr<TcpStream> connect(const TcpEndpoint& to, Poller& poller, std::shared_ptr<StreamMeta> meta,
                                            int& err);
  int socket_error() const;  // SO_ERROR: the outcome of a connect
  TcpEndpoint local_endpoint() const;  // our address (getsockname); unset when closed
  // Copies what has arrived without consuming it: a sniffer reads the first
  // bytes this way and the kernel still delivers them to the upstream.
  std::size_t peek(asio::mutable_buffer buf, error_code& ec);
  // The peer has finished sending (FIN or error): no more bytes will arrive.
  bool peer_finished() const { return entry_.peer_done; }
  Poller& poller() const { return poller_; }
  // Drops a pending wait without calling it: for a wrapper stream that
  // answers its own waiters when it closes (TlsStream).
  void forget_read_wait() { entry_.reader = nullptr; }
  void forget_write_wait() { entry_.writer = nullptr; }

  std::size_t try_read(asio::mutable_buffer buf, error_code& ec) override;
  std::size_t try_write(asio::const_buffer buf, error_code& ec) override;
  void wait_readable(Waiter& w) override;
  void wait_writable(Waiter& w) override;
  void shutdown_write() override;
  void reset() override;
  void close() override;
  int splice_fd() const override { return fd_; }

 private:
  int fd_;
  Poller& poller_;
  Poller::Entry entry_;
};

}  // namespace ugate

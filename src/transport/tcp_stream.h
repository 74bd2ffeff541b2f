#pragma once
// A Stream over a plain TCP socket (the one transport the splice path can
// use), registered once with the worker's Poller. A Unix stream socket is one
// too: the same calls, splice included; only the TCP options stay off it.
#include <memory>

#include "base/stream.h"
#include "runtime/poller.h"

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
  // The same to a Unix socket: its path, or "@name" (abstract).
  static std::unique_ptr<TcpStream> connect_unix(const std::string& path, Poller& poller,
                                                 std::shared_ptr<StreamMeta> meta, int& err);
  int socket_error() const;  // SO_ERROR: the outcome of a connect
  TcpEndpoint local_endpoint() const;  // our address (getsockname); unset when closed, or a Unix socket
  // Copies what has arrived without consuming it: a sniffer reads the first
  // bytes this way and the kernel still delivers them to the upstream.
  std::size_t peek(asio::mutable_buffer buf, error_code& ec);
  Poller& poller() const { return poller_; }

  std::size_t try_read(asio::mutable_buffer buf, error_code& ec) override;
  std::size_t try_write(asio::const_buffer buf, error_code& ec) override;
  void wait_readable(Waiter& w) override;
  void wait_writable(Waiter& w) override;
  void shutdown_write() override;
  void reset() override;
  void close() override;
  // Gives the descriptor up, open, to a new owner: off the poller, and this
  // stream is closed. -1 when it was closed already.
  int release();
  void forget_waits() override { entry_.reader = entry_.writer = nullptr; }
  bool peer_finished() const override { return entry_.peer_done; }  // FIN or error
  int splice_fd() const override { return fd_; }
  void spliced_all() override { entry_.readable = false; }

 private:
  int fd_;
  Poller& poller_;
  Poller::Entry entry_;
};

}  // namespace ugate

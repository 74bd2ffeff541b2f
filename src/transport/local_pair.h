#pragma once
// One end of a local socket pair that carries a stream between two workers
// (the reverse bridge). A Unix socket has no RST: closing one end abortively
// reaches the other as a plain EOF, so a stream cut on one side would look
// complete on the other. Each end therefore raises its flag before it
// resets, and the other end reads an EOF after a raised flag as a reset.
#include <array>
#include <atomic>
#include <memory>

#include "transport/tcp_stream.h"

namespace ugate {

// Shared by the two ends (on two threads): whether each one was reset.
using LocalPairResets = std::array<std::atomic<bool>, 2>;

class LocalPairStream final : public Stream {
 public:
  // `side` (0 or 1) is this end's flag in `resets`, the other end's is the other.
  LocalPairStream(std::unique_ptr<TcpStream> socket, std::shared_ptr<LocalPairResets> resets, int side);

  TcpStream& socket() { return *socket_; }

  std::size_t try_read(asio::mutable_buffer buf, error_code& ec) override;
  std::size_t try_write(asio::const_buffer buf, error_code& ec) override { return socket_->try_write(buf, ec); }
  void wait_readable(Waiter& w) override { socket_->wait_readable(w); }
  void wait_writable(Waiter& w) override { socket_->wait_writable(w); }
  void shutdown_write() override { socket_->shutdown_write(); }
  void reset() override;
  void close() override { socket_->close(); }
  void forget_waits() override { socket_->forget_waits(); }
  bool peer_finished() const override { return socket_->peer_finished(); }
  bool eof_is_reset() const override { return (*resets_)[1 - side_].load(); }
  int splice_fd() const override { return socket_->splice_fd(); }
  void spliced_all() override { socket_->spliced_all(); }

 private:
  std::unique_ptr<TcpStream> socket_;
  std::shared_ptr<LocalPairResets> resets_;
  int side_;
};

}  // namespace ugate

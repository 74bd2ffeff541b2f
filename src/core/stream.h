#pragma once
// Stream: one bidirectional byte stream, whatever carries it (a TCP socket now;
// TLS, an HTTP/2 CONNECT stream or a QUIC stream later). The proxy engine only
// speaks this interface, plus splice_fd() for the kernel fast path.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <memory>

#include "core/meta.h"

namespace ugate {

namespace asio = boost::asio;
using boost::system::error_code;

class Stream {
 public:
  explicit Stream(std::shared_ptr<StreamMeta> meta) : meta_(std::move(meta)) {}
  virtual ~Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Reads what is available now, without waiting: asio::error::would_block when
  // nothing is, asio::error::eof once the peer has finished sending.
  virtual std::size_t try_read(asio::mutable_buffer buf, error_code& ec) = 0;
  // Completes when try_read would not block (data, EOF or an error pending).
  virtual asio::awaitable<error_code> wait_readable() = 0;
  // Completes when a write would make progress (used by the splice path).
  virtual asio::awaitable<error_code> wait_writable() = 0;
  // Writes all of buf, waiting while the peer is slow (backpressure).
  virtual asio::awaitable<error_code> write_all(asio::const_buffer buf) = 0;

  virtual void shutdown_write() = 0;  // half-close: the peer sees EOF
  virtual void reset() = 0;           // abortive close: RST where the transport has one
  virtual void close() = 0;           // orderly close; pending waits complete with an error

  // The kernel socket to splice(2) from and to, or -1 when bytes must pass
  // through user space (TLS, HTTP/2, bytes buffered by a sniffer).
  virtual int splice_fd() const { return -1; }

  StreamMeta& meta() { return *meta_; }
  const std::shared_ptr<StreamMeta>& shared_meta() const { return meta_; }

 private:
  std::shared_ptr<StreamMeta> meta_;  // shared by both legs of a proxied stream
};

}  // namespace ugate

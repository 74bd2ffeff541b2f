#pragma once
// Stream: one bidirectional byte stream, whatever carries it (a TCP socket now;
// TLS, an HTTP/2 CONNECT stream or a QUIC stream later). The proxy engine only
// speaks this interface, plus splice_fd() for the kernel fast path.
//
// The interface is readiness-based (try an operation; when it would block,
// wait for readiness with a callback) rather than coroutine-based: an idle
// stream then costs one pending wait, not a chain of coroutine frames, which
// is what keeps idle connections at about a kilobyte.
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <memory>

#include "base/meta.h"

namespace ugate {

namespace asio = boost::asio;
using boost::system::error_code;

// Told when a stream became ready, or with an error when the wait was
// cancelled (the stream was closed) or failed.
class Waiter {
 public:
  virtual void on_ready(const error_code& ec) = 0;

 protected:
  ~Waiter() = default;
};

class Stream {
 public:
  explicit Stream(std::shared_ptr<StreamMeta> meta) : meta_(std::move(meta)) {}
  virtual ~Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Read or write what can be done now, without waiting: asio::error::would_block
  // when nothing can; try_read gives asio::error::eof once the peer finished.
  virtual std::size_t try_read(asio::mutable_buffer buf, error_code& ec) = 0;
  virtual std::size_t try_write(asio::const_buffer buf, error_code& ec) = 0;
  // One wait of each kind at a time; `w` must outlive it.
  virtual void wait_readable(Waiter& w) = 0;
  virtual void wait_writable(Waiter& w) = 0;

  virtual void shutdown_write() = 0;  // half-close: the peer sees EOF
  virtual void reset() = 0;           // abortive close: RST where the transport has one
  virtual void close() = 0;           // orderly close; pending waits complete with an error
  // Drops pending waits without calling them: for a stream layered on this
  // one (TLS) that answers its own waiters when it closes.
  virtual void forget_waits() = 0;
  // The peer has finished sending (EOF or error): no more bytes will come.
  virtual bool peer_finished() const = 0;

  // How many bytes a write would take now, for a stream whose writes fill a
  // queue bounded by flow control (an HTTP/2 stream): the proxy then reads no
  // more than that from the other side, so a stalled peer makes it hold
  // nothing. SIZE_MAX when the stream cannot tell (a socket) or a write would
  // fail anyway (the write says why).
  virtual std::size_t write_room() const { return SIZE_MAX; }

  // The kernel socket to splice(2) from and to, or -1 when bytes must pass
  // through user space (TLS, HTTP/2, bytes buffered by a sniffer).
  virtual int splice_fd() const { return -1; }
  // A splice from splice_fd() came back short: the socket is empty, so a
  // wait for readability must wait for the next edge, not answer at once.
  virtual void spliced_all() {}
  // Whether the end of input that a read or a splice just met stands for a
  // reset: a transport without one (a local socket pair) says so this way.
  virtual bool eof_is_reset() const { return false; }

  StreamMeta& meta() { return *meta_; }
  const std::shared_ptr<StreamMeta>& shared_meta() const { return meta_; }

 private:
  std::shared_ptr<StreamMeta> meta_;  // shared by both legs of a proxied stream
};

}  // namespace ugate

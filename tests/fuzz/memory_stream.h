#pragma once
// The fake transport the HTTP/2 fuzz targets put under a session: the peer's
// bytes are the fuzzer's input, handed out in pieces of at most `max_read`
// with "would block" in between, then EOF; writes are swallowed. `uneven`:
// the pieces vary in size (frames are cut at many places), and writes are
// taken a little at a time and sometimes refused ("would block"), so that
// the session's send queues and back-pressure come into play.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <algorithm>
#include <cstring>
#include <string>

#include "base/stream.h"

namespace ugate::fuzz {

class MemoryStream final : public Stream {
 public:
  MemoryStream(asio::io_context& io, std::string input, size_t max_read = 97, bool uneven = false)
      : Stream(std::make_shared<StreamMeta>()), io_(io), input_(std::move(input)), max_read_(max_read),
        uneven_(uneven) {}
  size_t try_read(asio::mutable_buffer buf, error_code& ec) override {
    if (closed_) return ec = asio::error::bad_descriptor, 0;
    if (pos_ == input_.size()) return ec = asio::error::eof, 0;
    if (turn_++ % 2) return ec = asio::error::would_block, 0;  // arrive in several reads
    size_t piece = uneven_ ? 1 + (turn_ * 37) % max_read_ : max_read_;
    size_t n = std::min({buf.size(), input_.size() - pos_, piece});
    std::memcpy(buf.data(), input_.data() + pos_, n);
    pos_ += n;
    ec = {};
    return n;
  }
  size_t try_write(asio::const_buffer buf, error_code& ec) override {
    if (closed_) return ec = asio::error::bad_descriptor, 0;
    ec = {};
    if (!uneven_) return buf.size();
    if (writes_++ % 3 == 2) return ec = asio::error::would_block, 0;
    return std::min(buf.size(), size_t{1} + (writes_ * 131) % 4096);
  }
  void wait_readable(Waiter& w) override { post(w); }
  void wait_writable(Waiter& w) override { post(w); }
  void shutdown_write() override {}
  void reset() override { close(); }
  void close() override { closed_ = true; }
  void forget_waits() override {}  // nothing layers on it
  bool peer_finished() const override { return pos_ == input_.size(); }

 private:
  void post(Waiter& w) {
    bool closed = closed_;
    asio::post(io_, [&w, closed] { w.on_ready(closed ? error_code(asio::error::operation_aborted) : error_code()); });
  }
  asio::io_context& io_;
  std::string input_;
  size_t max_read_;
  bool uneven_;
  size_t pos_ = 0;
  unsigned turn_ = 0;
  unsigned writes_ = 0;
  bool closed_ = false;
};

}  // namespace ugate::fuzz

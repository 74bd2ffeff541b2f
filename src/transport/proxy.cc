#include "transport/proxy.h"

#include <fcntl.h>

#include <algorithm>

#include <boost/asio/post.hpp>
#include <cerrno>

namespace ugate {

ProxyMode choose_mode(const Stream& down, const Stream& up, bool splice_allowed) {
  return splice_allowed && down.splice_fd() >= 0 && up.splice_fd() >= 0 ? ProxyMode::kSplice : ProxyMode::kCopy;
}

Proxy::Proxy(Stream& down, Stream& up, const ProxyContext& ctx, ProxyOwner& owner)
    : ctx_(ctx),
      owner_(owner),
      splice_(choose_mode(down, up, ctx.splice_allowed) == ProxyMode::kSplice),
      upward_(*this, down, up, down.meta().bytes_up, ctx.stats.bytes_up, CloseReason::kDownstreamReset,
              CloseReason::kUpstreamReset),
      downward_(*this, up, down, down.meta().bytes_down, ctx.stats.bytes_down, CloseReason::kUpstreamReset,
                CloseReason::kDownstreamReset) {
  down.meta().mode = splice_ ? ProxyMode::kSplice : ProxyMode::kCopy;
  (splice_ ? ctx.stats.spliced : ctx.stats.copied).add();
}

void Proxy::start() {
  downward_.wait_for_data();  // the upstream was just dialled: nothing to read yet
  upward_.run();              // the client may have sent already; last: it may end the proxy
}

void Proxy::pump_finished(Pump& pump, End end) {
  CloseReason reason = CloseReason::kDone;
  if (end == End::kReadError) reason = pump.read_error_;
  if (end == End::kWriteError) reason = pump.write_error_;
  if (end == End::kNoResources) reason = CloseReason::kOverload;
  if (reason != CloseReason::kDone) {
    if (first_error_ == CloseReason::kDone) first_error_ = reason;
    // Tell both peers the stream is broken; the other direction's wait ends.
    pump.src_.reset();
    pump.dst_.reset();
  }
  if (--running_ == 0) owner_.proxy_done(first_error_);  // last: the owner may destroy us
}

void Proxy::Pump::run() {
  for (unsigned budget = kBurst; budget > 0; --budget) {
    Step step = splicing_ ? splice_step() : copy_step();
    if (step != Step::kAgain) return;  // waiting, or finished (and maybe destroyed)
  }
  asio::post(proxy_.ctx_.io, [this] { run(); });
}

void Proxy::Pump::wait_for_data() {
  drained_ = false;
  waiting_read_ = true;
  wait_since_ = proxy_.ctx_.now_tick;
  src_.wait_readable(*this);
}

void Proxy::Pump::on_ready(const error_code& ec) {
  if (ec) {
    finish(End::kAborted);
    return;
  }
  if (waiting_read_ && proxy_.ctx_.now_tick - wait_since_ >= kQuietTicks) {
    size_.on_quiet();
    splicing_ = filled_ = false;  // nothing is in flight after a read wait: copy small messages again
  }
  waiting_read_ = false;
  run();
}

void Proxy::Pump::moved(size_t n) {
  bytes_ += n;
  counter_.add(n);
  proxy_.ctx_.last_active = proxy_.ctx_.now_tick;
}

// The source sent EOF: pass it on. When the other direction has ended too,
// the proxy closes both sockets at once and close() sends the FIN anyway.
Proxy::Step Proxy::Pump::end_of_input() {
  if (src_.eof_is_reset()) return finish(End::kReadError);
  if (proxy_.running_ == 2) dst_.shutdown_write();
  return finish(End::kEof);
}

Proxy::Step Proxy::Pump::finish(End end) {
  if (pending_ == 0) proxy_.ctx_.pipes.release(pipe_);
  pipe_.close();  // drops bytes that can no longer be delivered
  proxy_.ctx_.buffers.release(buffer_);
  proxy_.pump_finished(*this, end);
  return Step::kFinished;
}

// Kernel path: socket -> pipe -> socket, no copy through user space.
Proxy::Step Proxy::Pump::splice_step() {
  PipePool& pipes = proxy_.ctx_.pipes;
  if (pending_ == 0) {
    if (drained_) {
      // A short read means the socket is empty: wait rather than try again
      // (readiness is re-checked when the wait starts, so nothing is missed).
      pipes.release(pipe_);
      wait_for_data();
      return Step::kWaiting;
    }
    if (!pipe_ && !(pipe_ = pipes.acquire())) return finish(End::kNoResources);
    ssize_t n = ::splice(src_.splice_fd(), nullptr, pipe_.write_end(), nullptr, pipes.pipe_size(),
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      pending_ = static_cast<size_t>(n);
      drained_ = pending_ < pipes.pipe_size() / 2;
      if (drained_) src_.spliced_all();
    } else if (n == 0) {
      return end_of_input();
    } else if (errno == EAGAIN) {
      pipes.release(pipe_);  // empty: an idle stream holds no pipe
      wait_for_data();
      return Step::kWaiting;
    } else {
      return errno == EINTR ? Step::kAgain : finish(End::kReadError);
    }
  }
  ssize_t m = ::splice(pipe_.read_end(), nullptr, dst_.splice_fd(), nullptr, pending_,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (m > 0) {
    pending_ -= static_cast<size_t>(m);
    moved(static_cast<size_t>(m));
    proxy_.ctx_.stats.bytes_spliced.add(static_cast<size_t>(m));
    return Step::kAgain;
  }
  if (m < 0 && errno == EAGAIN) {
    dst_.wait_writable(*this);
    return Step::kWaiting;
  }
  return m < 0 && errno == EINTR ? Step::kAgain : finish(End::kWriteError);
}

// User-space path, for streams the kernel cannot splice.
Proxy::Step Proxy::Pump::copy_step() {
  BufferPool& buffers = proxy_.ctx_.buffers;
  error_code ec;
  if (pending_ == 0) {
    if (drained_) {
      buffers.release(buffer_);  // an idle stream holds no buffer
      wait_for_data();
      return Step::kWaiting;
    }
    if (filled_ && proxy_.splice_) {
      // Sustained traffic between two sockets: let the kernel move it.
      buffers.release(buffer_);
      splicing_ = true;
      return Step::kAgain;
    }
    size_t room = dst_.write_room();
    if (room == 0) {
      // The other side is stalled (flow control): read nothing until it takes
      // more, so what a slow peer makes us hold is its own queue, no more.
      buffers.release(buffer_);
      dst_.wait_writable(*this);
      return Step::kWaiting;
    }
    if (buffer_.size_class() != size_.size_class()) buffers.release(buffer_);
    if (!buffer_) buffer_ = buffers.acquire(size_.size_class());
    const size_t want = std::min(buffer_.size(), room);
    size_t n = src_.try_read(asio::buffer(buffer_.data(), want), ec);
    if (ec == asio::error::would_block) {
      buffers.release(buffer_);
      wait_for_data();
      return Step::kWaiting;
    }
    if (ec == asio::error::eof) return end_of_input();
    if (ec) return ec == asio::error::interrupted ? Step::kAgain : finish(End::kReadError);
    if (want == buffer_.size()) size_.on_read(n);
    drained_ = n < want;  // a read cut short by `room` says nothing of what the source holds
    filled_ = !drained_;
    pending_ = n;
    offset_ = 0;
  }
  size_t m = dst_.try_write(asio::buffer(buffer_.data() + offset_, pending_), ec);
  if (ec == asio::error::would_block) {
    dst_.wait_writable(*this);
    return Step::kWaiting;
  }
  if (ec) return ec == asio::error::interrupted ? Step::kAgain : finish(End::kWriteError);
  offset_ += m;
  pending_ -= m;
  moved(m);
  return Step::kAgain;
}

}  // namespace ugate

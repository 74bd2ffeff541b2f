#include "io/proxy.h"

#include <fcntl.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <cerrno>

namespace ugate {
namespace {

enum class End : uint8_t { kEof, kReadError, kWriteError, kAborted, kNoResources };

// One direction: src -> dst.
struct Direction {
  Stream& src;
  Stream& dst;
  uint64_t& bytes;   // in the stream's meta
  Counter& counter;  // in the listener's stats
  CloseReason read_error, write_error;
};

// Ticks (of Worker::kTick) without traffic after which the copy buffer size
// starts again from its initial value.
constexpr uint32_t kQuietTicks = 4;

void moved(Direction& d, ProxyContext& ctx, size_t n) {
  d.bytes += n;
  d.counter.add(n);
  ctx.last_active = ctx.now_tick;
}

// Kernel path: socket -> pipe -> socket. The pipe is borrowed from the pool
// only while bytes are in flight, so an idle stream holds no pipe.
asio::awaitable<End> splice_pump(Direction& d, ProxyContext& ctx) {
  const int in = d.src.splice_fd(), out = d.dst.splice_fd();
  for (;;) {
    Pipe pipe = ctx.pipes.acquire();
    if (!pipe) co_return End::kNoResources;
    ssize_t n = ::splice(in, nullptr, pipe.write_end(), nullptr, ctx.pipes.pipe_size(),
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n == 0) {
      ctx.pipes.release(pipe);
      d.dst.shutdown_write();
      co_return End::kEof;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) co_return End::kReadError;
      ctx.pipes.release(pipe);  // empty: nothing was read
      if (co_await d.src.wait_readable()) co_return End::kAborted;
      continue;
    }
    size_t pending = static_cast<size_t>(n);
    while (pending > 0) {
      ssize_t m = ::splice(pipe.read_end(), nullptr, out, nullptr, pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (m > 0) {
        pending -= static_cast<size_t>(m);
        moved(d, ctx, static_cast<size_t>(m));
      } else if (m < 0 && errno == EAGAIN) {
        if (co_await d.dst.wait_writable()) co_return End::kAborted;  // the pipe closes with its bytes
      } else if (m < 0 && errno == EINTR) {
        continue;
      } else {
        co_return End::kWriteError;
      }
    }
    ctx.pipes.release(pipe);
  }
}

// User-space path for streams the kernel cannot splice. The buffer is
// borrowed while bytes move and its size adapts to the traffic.
asio::awaitable<End> copy_pump(Direction& d, ProxyContext& ctx) {
  AdaptiveSize size;
  Buffer buf;
  for (;;) {
    if (!buf || buf.size_class() != size.size_class()) {
      ctx.buffers.release(buf);
      buf = ctx.buffers.acquire(size.size_class());
    }
    error_code ec;
    size_t n = d.src.try_read(asio::buffer(buf.data(), buf.size()), ec);
    if (ec == asio::error::would_block) {
      ctx.buffers.release(buf);
      uint32_t since = ctx.now_tick;
      if (co_await d.src.wait_readable()) co_return End::kAborted;
      if (ctx.now_tick - since >= kQuietTicks) size.on_quiet();
      continue;
    }
    if (ec == asio::error::eof) {
      ctx.buffers.release(buf);
      d.dst.shutdown_write();
      co_return End::kEof;
    }
    if (ec) co_return End::kReadError;
    size.on_read(n);
    if (error_code wec = co_await d.dst.write_all(asio::buffer(buf.data(), n)))
      co_return wec == asio::error::operation_aborted ? End::kAborted : End::kWriteError;
    moved(d, ctx, n);
  }
}

// Runs one direction; on failure records the first error in `first` and
// resets both streams, which tells both peers and stops the other direction.
asio::awaitable<void> pump(Direction d, ProxyContext& ctx, bool splice, CloseReason& first) {
  End end = splice ? co_await splice_pump(d, ctx) : co_await copy_pump(d, ctx);
  CloseReason reason;
  switch (end) {
    case End::kEof:
    case End::kAborted: co_return;
    case End::kReadError: reason = d.read_error; break;
    case End::kWriteError: reason = d.write_error; break;
    case End::kNoResources: reason = CloseReason::kOverload; break;
  }
  if (first == CloseReason::kDone) first = reason;
  d.src.reset();
  d.dst.reset();
}

}  // namespace

ProxyMode choose_mode(const Stream& down, const Stream& up, bool splice_allowed) {
  return splice_allowed && down.splice_fd() >= 0 && up.splice_fd() >= 0 ? ProxyMode::kSplice : ProxyMode::kCopy;
}

asio::awaitable<CloseReason> proxy(Stream& down, Stream& up, ProxyContext& ctx) {
  using namespace asio::experimental::awaitable_operators;
  ProxyMode mode = choose_mode(down, up, ctx.splice_allowed);
  down.meta().mode = mode;
  (mode == ProxyMode::kSplice ? ctx.stats.spliced : ctx.stats.copied).add();
  bool splice = mode == ProxyMode::kSplice;
  StreamMeta& meta = down.meta();
  Direction upward{down, up, meta.bytes_up, ctx.stats.bytes_up, CloseReason::kDownstreamReset,
                   CloseReason::kUpstreamReset};
  Direction downward{up, down, meta.bytes_down, ctx.stats.bytes_down, CloseReason::kUpstreamReset,
                     CloseReason::kDownstreamReset};
  CloseReason first = CloseReason::kDone;
  co_await (pump(upward, ctx, splice, first) && pump(downward, ctx, splice, first));
  co_return first;
}

}  // namespace ugate

#pragma once
// The proxy engine: moves bytes both ways between two Streams until both
// directions are done. EOF one way becomes shutdown(SHUT_WR) on the other side
// (half-close); an error on either side resets both. splice(2) when both are
// plain TCP sockets and splice is allowed; an adaptive-buffer copy otherwise.
// On the splice path small messages are still copied: one recv and one send
// beat two splices and a pipe for a request or a reply, so a direction turns
// to splice only when a read fills the buffer (sustained traffic) and back to
// copying after a quiet spell.
//
// Each direction is a small state machine driven by readiness callbacks: an
// idle stream holds one pending wait per direction and no buffer or pipe.
#include <boost/asio/io_context.hpp>

#include "base/meta.h"
#include "base/stats.h"
#include "base/stream.h"
#include "runtime/buffer_pool.h"

namespace ugate {

struct ProxyContext {
  asio::io_context& io;
  BufferPool& buffers;
  PipePool& pipes;
  bool splice_allowed;
  const uint32_t& now_tick;  // the worker's coarse clock (see Worker::kTick)
  uint32_t& last_active;     // set to now_tick whenever bytes move
  ListenerStats& stats;
};

// Told once, when both directions have ended: kDone, or the first error.
// The owner then closes both streams: the last FIN is left to close().
class ProxyOwner {
 public:
  virtual void proxy_done(CloseReason reason) = 0;

 protected:
  ~ProxyOwner() = default;
};

// The one place that decides splice vs copy.
ProxyMode choose_mode(const Stream& down, const Stream& up, bool splice_allowed);

class Proxy {
 public:
  // Operations one direction does in a row before letting other streams on
  // the worker run (fairness under sustained traffic).
  static constexpr unsigned kBurst = 8;
  // Ticks without traffic after which a copy buffer starts again small.
  static constexpr uint32_t kQuietTicks = 10;

  Proxy(Stream& down, Stream& up, const ProxyContext& ctx, ProxyOwner& owner);
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Starts both directions. owner.proxy_done() may run before start() returns,
  // and the owner may destroy this Proxy in it: nothing touches it afterwards.
  void start();

 private:
  enum class End : uint8_t { kEof, kReadError, kWriteError, kAborted, kNoResources };
  enum class Step : uint8_t { kAgain, kWaiting, kFinished };

  class Pump final : public Waiter {
   public:
    Pump(Proxy& proxy, Stream& src, Stream& dst, uint64_t& bytes, Counter& counter, CloseReason read_error,
         CloseReason write_error)
        : proxy_(proxy), src_(src), dst_(dst), bytes_(bytes), counter_(counter), read_error_(read_error),
          write_error_(write_error) {}
    void run();
    void wait_for_data();
    void on_ready(const error_code& ec) override;

   private:
    friend class Proxy;
    Step splice_step();
    Step copy_step();
    Step finish(End end);
    Step end_of_input();
    void moved(size_t n);

    Proxy& proxy_;
    Stream& src_;
    Stream& dst_;
    uint64_t& bytes_;   // in the stream's meta
    Counter& counter_;  // in the listener's stats
    CloseReason read_error_, write_error_;
    Pipe pipe_;          // splice: borrowed while bytes are in flight
    Buffer buffer_;      // copy: borrowed while bytes are in flight
    size_t pending_ = 0;  // bytes read but not yet written
    size_t offset_ = 0;   // copy: where the pending bytes start in buffer_
    uint32_t wait_since_ = 0;
    AdaptiveSize size_;
    bool waiting_read_ = false;
    bool drained_ = false;  // the last read was short: the source has nothing more now
    bool filled_ = false;    // copy: the last read filled the buffer
    bool splicing_ = false;  // splice path, and a read filled the buffer since the last quiet spell
  };

  void pump_finished(Pump& pump, End end);

  ProxyContext ctx_;
  ProxyOwner& owner_;
  bool splice_;
  uint8_t running_ = 2;
  CloseReason first_error_ = CloseReason::kDone;
  Pump upward_;    // client -> upstream
  Pump downward_;  // upstream -> client
};

}  // namespace ugate

#pragma once
// H2Session: one HTTP/2 connection over any Stream (TCP now, TLS or another
// HTTP/2 stream for CONNECT inside CONNECT). It reads the transport into the
// codec, writes the codec's frames back, and keeps the connection's streams
// (Transactions) and their user sides (H2Stream). All on one worker thread.
//
// The transport is read whenever it has bytes: flow control bounds what a
// peer may send, so nothing queues without limit, and one stalled stream
// holds at most its own window while the others go on. Frames go out in
// batches: stream writes only ask for a flush, which runs once per turn of the
// event loop.
//
// Lifetime: the session tells its Handler on_closed() once it is over and no
// callback of its own is pending; the handler may destroy it then (and only
// then, or from outside any of its callbacks).
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/stream.h"
#include "runtime/adaptive_size.h"
#include "runtime/buffer_pool.h"
#include "mesh/h2_codec.h"
#include "mesh/h2_stream.h"
#include "mesh/send_budget.h"

namespace ugate::h2 {

// Why a connection ended.
enum class EndReason : uint8_t {
  kNone,
  kPeerClosed,        // EOF from the peer, or both sides' GOAWAY done
  kTransportError,    // a read or write failed (reset, TLS error)
  kProtocolError,     // the peer broke HTTP/2 (we sent GOAWAY)
  kKeepaliveTimeout,  // no answer to PING
  kIdle,              // no streams for idle_timeout
  kClosed,            // closed by its owner (drain, shutdown)
  kTooManyResets,     // the peer reset most streams before their answer (CVE-2023-44487's shape)
  kPrefaceTimeout,    // server: no client preface within Timing::preface_timeout
};
std::string_view to_string(EndReason r);

class H2Session final : private CodecEvents, private SendBudget::Sender {
 public:
  using Role = H2Codec::Role;

  class Handler {
   public:
    // Server: a request arrived; `stream` carries it (message()) and must be
    // answered with respond(). Called outside the codec.
    virtual void on_request(H2Session& session, std::unique_ptr<H2Stream> stream) = 0;
    // A stream ended: room for another on this connection.
    virtual void on_stream_end(H2Session&) {}
    // The connection is over and idle; the handler may destroy the session.
    virtual void on_closed(H2Session& session) = 0;

   protected:
    ~Handler() = default;
  };

  // Streams a peer may reset before their answer, counted once at least this
  // many and at least half of the streams it opened: then GOAWAY(ENHANCE_YOUR_CALM).
  static constexpr uint32_t kPrematureResets = 100;
  // After a GOAWAY for the peer's error: what it still sends is dropped, up to this many bytes or
  // seconds, before the close (lingering close, as HTTP/1 servers do).
  static constexpr size_t kLingerBytes = 1 << 20;
  static constexpr uint32_t kLingerSeconds = 2;
  // Bytes queued for sending on one connection, over all its streams.
  static constexpr size_t kConnectionSendQueue = 4u << 20;

  H2Session(Role role, std::unique_ptr<Stream> transport, asio::io_context& io, BufferPool& buffers,
            SendBudget& budget, const Settings& settings, const Timing& timing, Handler& handler);
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  void start();
  // Client: sends the CONNECT for a pending stream on this connection.
  bool open(H2Stream& stream);
  // Streams open on this connection (including ones still sending their end).
  size_t streams() const { return streams_; }
  // Accepts new streams: alive and neither side said GOAWAY.
  bool usable() const { return !going_away_ && !closed_; }
  bool closed() const { return closed_; }
  EndReason end_reason() const { return end_; }
  const std::string& end_detail() const { return detail_; }
  // "reason" or "reason: detail", for a log line.
  std::string end_summary() const {
    std::string out(to_string(end_reason()));
    return detail_.empty() ? out : out + ": " + detail_;
  }
  Stream& transport() { return *transport_; }
  Role role() const { return role_; }
  // Streams the peer reset before we answered them (server).
  uint32_t premature_resets() const { return premature_resets_; }
  size_t queued() const { return queued_; }  // bytes waiting to be framed, all streams

  // Graceful: GOAWAY, let the open streams finish, then close.
  void go_away();
  // Now: every stream fails and the transport closes.
  void terminate(EndReason why);
  // Once a second: keepalive, idle release, lingering streams. `seconds`
  // passed since the last call, more than 1 only when tick_after() allowed
  // it: then nothing but the keepalive's quiet time was counting.
  void on_tick(uint32_t seconds = 1);
  // How long the owner may wait before the next on_tick(): 1 while anything
  // else is timed (a preface, a PING out, idle release, a lingering close or
  // stream, a GOAWAY), else until the keepalive PING is due, so that an idle
  // lasting connection (reverse accept) wakes once per keepalive interval.
  uint32_t tick_after() const;

 private:
  friend class H2Stream;
  // The transport's readiness, one waiter per direction.
  struct Side final : Waiter {
    Side(H2Session& s, bool w) : session(s), write(w) {}
    void on_ready(const error_code& ec) override;
    H2Session& session;
    bool write;
  };

  // I/O.
  void read_loop();
  void discard_input();
  void flush();
  void schedule_flush();
  void deliver();
  // Queues the stream's reader or writer (if it waits) to be told after the
  // codec returned; the waiter is looked up then, so a stream closed (or a
  // wait forgotten) meanwhile is not called.
  void wake(H2Stream& s, bool read, const error_code& ec = {});
  void unwake(const H2Stream& s);
  void fail(EndReason why, std::string detail);
  void finish();  // posts on_closed() once over and nothing of ours is pending
  void release_buffers();  // no more I/O of ours: the pool takes them back
  void close_transport();
  void maybe_done();  // graceful end: nothing left to say either way

  // For H2Stream.
  size_t stream_read(Transaction& t, asio::mutable_buffer buf, error_code& ec);
  size_t stream_write(Transaction& t, asio::const_buffer buf, error_code& ec);
  bool stream_readable(const Transaction& t) const;
  bool stream_writable(const Transaction& t) const;
  size_t stream_room(const Transaction& t) const;
  size_t send_limit(const Transaction& t) const;
  void dequeued(size_t n);  // bytes left the send queues (framed or dropped)
  void clear_out(Transaction& t);
  void on_budget() override;  // room again in the worker's budget
  void wake_writers();
  void stream_shutdown(Transaction& t);
  void stream_reset(Transaction& t);
  void want_send(Transaction& t);
  void send_again();
  void stream_close(Transaction& t);
  bool stream_respond(Transaction& t, int status, const std::vector<std::pair<std::string, std::string>>& extra);
  void credit(Transaction& t);
  void discard_input(Transaction& t);
  void destroy(Transaction& t);

  // CodecEvents.
  Transaction* on_stream_opened(int32_t id) override;
  bool on_header(Transaction& t, std::string_view name, std::string_view value) override;
  void on_headers_done(Transaction& t) override;
  void on_data(Transaction& t, const uint8_t* data, size_t n) override;
  void on_remote_end(Transaction& t) override;
  void on_stream_closed(Transaction& t, uint32_t error_code) override;
  void on_local_end(Transaction& t) override;
  void on_headers_sent(Transaction& t) override;
  long data_ready(Transaction& t, size_t max, bool& end, bool& pause) override;
  void take_data(Transaction& t, uint8_t* out, size_t n) override;
  void on_frame_received() override {
    quiet_ticks_ = 0;
    heard_ = true;
  }
  void on_ping_ack() override { ping_ticks_ = 0; }
  void on_goaway(uint32_t error_code) override;
  void on_reset_received(Transaction& t) override;

  static constexpr unsigned kBurst = 8;  // reads or writes in a row before others run
  static constexpr unsigned kOutClass = AdaptiveSize::kClasses - 1;  // 256 KiB of frames per write

  Role role_;
  std::unique_ptr<Stream> transport_;
  asio::io_context& io_;
  BufferPool& buffers_;
  SendBudget& budget_;
  Settings settings_;
  Timing timing_;
  Handler& handler_;
  H2Codec codec_;
  boost::intrusive::list<Transaction, boost::intrusive::constant_time_size<false>> txns_;
  size_t streams_ = 0;
  struct Wake {
    H2Stream* stream;  // null once that stream closed
    bool read;
    error_code ec;
  };
  std::vector<Wake> wake_;                             // collected inside the codec, called after
  std::vector<std::unique_ptr<H2Stream>> requests_;    // server: arrived inside the codec, handed out after
  std::vector<int32_t> send_again_;                    // streams to queue a DATA source for after the codec
  unsigned ended_ = 0;                                 // streams gone since the handler last heard
  Side read_side_{*this, false}, write_side_{*this, true};
  Buffer in_buf_, out_buf_;
  size_t out_off_ = 0, out_len_ = 0;
  AdaptiveSize in_size_;
  unsigned posted_ = 0;   // our handlers queued on io_ (flush, read turns)
  bool reading_ = false;  // a transport wait is pending (its callback will come)
  bool writing_ = false;
  bool flush_posted_ = false;
  bool going_away_ = false;
  bool closed_ = false;     // no more I/O; streams failed
  bool notified_ = false;   // on_closed() was called
  bool lingering_ = false;  // closed_, write side shut, input dropped until the peer's EOF
  uint32_t linger_ticks_ = 0;
  size_t discarded_ = 0;
  EndReason end_ = EndReason::kNone;
  std::string detail_;
  uint32_t quiet_ticks_ = 0;  // seconds without a frame from the peer
  uint32_t ping_ticks_ = 0;   // seconds since our unanswered PING (0: none out)
  uint32_t idle_ticks_ = 0;   // seconds without any stream
  uint32_t age_ticks_ = 0;    // seconds since start, until the first frame came
  bool heard_ = false;        // a frame came from the peer (its preface is done)
  size_t queued_ = 0;         // sum of the streams' send queues
  bool queue_full_ = false;   // a writer was refused for kConnectionSendQueue
  uint32_t opened_ = 0;            // streams the peer opened (server)
  uint32_t premature_resets_ = 0;  // of those, reset by the peer before our answer
  bool calm_down_ = false;         // too many of those: GOAWAY once the codec returns
};

}  // namespace ugate::h2

#include "mesh/h2_session.h"

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <algorithm>

namespace ugate::h2 {

std::string_view to_string(EndReason r) {
  switch (r) {
    case EndReason::kNone: return "none";
    case EndReason::kPeerClosed: return "peer_closed";
    case EndReason::kTransportError: return "transport_error";
    case EndReason::kProtocolError: return "protocol_error";
    case EndReason::kKeepaliveTimeout: return "keepalive_timeout";
    case EndReason::kIdle: return "idle";
    case EndReason::kClosed: return "closed";
    case EndReason::kTooManyResets: return "too_many_resets";
    case EndReason::kPrefaceTimeout: return "preface_timeout";
  }
  return "unknown";
}

H2Session::H2Session(Role role, std::unique_ptr<Stream> transport, asio::io_context& io, BufferPool& buffers,
                     SendBudget& budget, const Settings& settings, const Timing& timing, Handler& handler)
    : role_(role), transport_(std::move(transport)), io_(io), buffers_(buffers), budget_(budget), settings_(settings),
      timing_(timing), handler_(handler), codec_(role, settings, *this) {}

H2Session::~H2Session() {
  closed_ = true;
  requests_.clear();
  while (!txns_.empty()) {
    Transaction& t = txns_.front();
    if (t.stream) t.stream->fail(asio::error::connection_reset);
    destroy(t);
  }
  buffers_.release(in_buf_);
  buffers_.release(out_buf_);
}

void H2Session::start() {
  read_loop();
  finish();
}

// ---- I/O --------------------------------------------------------------------

void H2Session::Side::on_ready(const error_code& ec) {
  H2Session& s = session;
  (write ? s.writing_ : s.reading_) = false;
  if (s.lingering_ && !write) s.discard_input();
  else if (ec) s.fail(EndReason::kTransportError, ec.message());
  else if (write) s.flush();
  else s.read_loop();
  s.finish();
}

void H2Session::read_loop() {
  for (unsigned i = 0; i < kBurst && !closed_; ++i) {
    if (!in_buf_) in_buf_ = buffers_.acquire(in_size_.size_class());
    error_code ec;
    size_t n = transport_->try_read(asio::buffer(in_buf_.data(), in_buf_.size()), ec);
    if (ec == asio::error::would_block) {
      buffers_.release(in_buf_);  // an idle connection holds no buffer
      reading_ = true;
      transport_->wait_readable(read_side_);
      flush();
      return;
    }
    if (ec == asio::error::interrupted) continue;
    if (ec) {
      fail(ec == asio::error::eof ? EndReason::kPeerClosed : EndReason::kTransportError, ec.message());
      return;
    }
    in_size_.on_read(n);
    bool ok = codec_.feed(reinterpret_cast<const uint8_t*>(in_buf_.data()), n);
    deliver();
    if (!ok) {
      fail(EndReason::kProtocolError, codec_.error());
      return;
    }
    if (calm_down_) {
      codec_.go_away(kEnhanceYourCalm);
      fail(EndReason::kTooManyResets, std::to_string(premature_resets_) + " streams reset before their answer");
      return;
    }
  }
  if (closed_) return;
  // A busy connection lets the worker's other streams run, then reads on.
  buffers_.release(in_buf_);
  ++posted_;
  asio::post(io_, [this] {
    --posted_;
    read_loop();
    finish();
  });
  flush();
}

// A close with the peer's bytes unread answers them with an RST, and an RST that reaches the peer
// before it read our GOAWAY discards the GOAWAY: it would see a reset, not why. So after a GOAWAY
// for its error the write side is shut (FIN after the GOAWAY) and its input dropped until its EOF,
// kLingerBytes or kLingerSeconds (on_tick), then the transport closes.
void H2Session::discard_input() {
  if (!lingering_) return;
  for (;;) {
    char sink[16384];
    error_code ec;
    size_t n = transport_->try_read(asio::buffer(sink), ec);
    if (ec == asio::error::would_block && discarded_ < kLingerBytes) {
      reading_ = true;
      transport_->wait_readable(read_side_);
      return;
    }
    if (ec == asio::error::interrupted) continue;
    if (ec || (discarded_ += n) >= kLingerBytes) break;
  }
  lingering_ = false;
  close_transport();
}

void H2Session::flush() {
  if (closed_ || writing_) return;
  for (unsigned i = 0; i < kBurst; ++i) {
    if (out_off_ == out_len_) {
      out_off_ = out_len_ = 0;
      if (!codec_.want_write()) break;
      if (!out_buf_) out_buf_ = buffers_.acquire(kOutClass);
      bool ok = codec_.produce(reinterpret_cast<uint8_t*>(out_buf_.data()), out_buf_.size(), out_len_);
      send_again();
      deliver();
      if (!ok) {
        fail(EndReason::kProtocolError, codec_.error());
        return;
      }
      if (closed_) return;
      if (out_len_ == 0) break;
    }
    error_code ec;
    size_t n = transport_->try_write(asio::buffer(out_buf_.data() + out_off_, out_len_ - out_off_), ec);
    if (ec == asio::error::would_block) {
      writing_ = true;
      transport_->wait_writable(write_side_);
      return;
    }
    if (ec == asio::error::interrupted) continue;
    if (ec) {
      fail(EndReason::kTransportError, ec.message());
      return;
    }
    out_off_ += n;
  }
  if (out_off_ == out_len_) {
    buffers_.release(out_buf_);
    out_off_ = out_len_ = 0;
  }
  if (out_off_ < out_len_ || codec_.want_write()) {
    schedule_flush();  // the burst is used up: after the others
  } else if (codec_.goaway_error_sent() != kNoError && !codec_.want_read()) {
    fail(EndReason::kProtocolError, codec_.error());  // nghttp2 ended it; its GOAWAY went out
  } else {
    maybe_done();
  }
}

void H2Session::schedule_flush() {
  if (closed_ || flush_posted_ || writing_) return;
  flush_posted_ = true;
  ++posted_;
  asio::post(io_, [this] {
    --posted_;
    flush_posted_ = false;
    deliver();
    flush();
    finish();
  });
}

// Waiters and handler calls collected while the codec ran, called now that it
// returned: they may use the streams (and so the codec) again.
void H2Session::deliver() {
  for (size_t i = 0; i < wake_.size(); ++i) {  // a call may close streams further on (unwake) or fail us (clear)
    Wake w = wake_[i];
    if (!w.stream) continue;
    if (Waiter* x = std::exchange(w.read ? w.stream->reader_ : w.stream->writer_, nullptr)) x->on_ready(w.ec);
  }
  wake_.clear();
  for (size_t i = 0; i < requests_.size(); ++i) {
    // Reset by the peer before anyone saw it: nothing to dial (a rapid-reset flood).
    if (requests_[i]->txn_->closed && requests_[i]->txn_->error != kNoError) continue;
    handler_.on_request(*this, std::move(requests_[i]));
  }
  requests_.clear();
  if (ended_ > 0) {
    ended_ = 0;
    handler_.on_stream_end(*this);
  }
}

void H2Session::wake(H2Stream& s, bool read, const error_code& ec) {
  if (read ? s.reader_ : s.writer_) wake_.push_back({&s, read, ec});
}

void H2Session::unwake(const H2Stream& s) {
  for (Wake& w : wake_)
    if (w.stream == &s) w.stream = nullptr;
}

void H2Session::fail(EndReason why, std::string detail) {
  if (closed_) return;
  bool linger = false;
  if ((why == EndReason::kProtocolError || why == EndReason::kTooManyResets) && !writing_) {
    // Best effort: the GOAWAY queued tells the peer why.
    if (!out_buf_) out_buf_ = buffers_.acquire(kOutClass);
    if (out_off_ == out_len_) {
      out_off_ = out_len_ = 0;
      codec_.produce(reinterpret_cast<uint8_t*>(out_buf_.data()), out_buf_.size(), out_len_);
    }
    error_code ec;
    size_t n = transport_->try_write(asio::buffer(out_buf_.data() + out_off_, out_len_ - out_off_), ec);
    linger = !ec && out_off_ + n == out_len_;  // the GOAWAY is out: worth keeping the peer from an RST
  }
  closed_ = true;
  if (end_ == EndReason::kNone || why != EndReason::kPeerClosed) end_ = why;
  detail_ = std::move(detail);
  requests_.clear();  // their streams fail below
  wake_.clear();      // and are told so
  send_again_.clear();
  for (auto it = txns_.begin(); it != txns_.end();) {
    Transaction& t = *it++;
    if (t.stream) t.stream->fail(asio::error::connection_reset);
    destroy(t);
  }
  if (!linger) {
    close_transport();
    return;
  }
  release_buffers();
  transport_->shutdown_write();
  lingering_ = true;
  if (!reading_) discard_input();  // else the pending wait's callback does
}

void H2Session::release_buffers() {
  buffers_.release(in_buf_);
  buffers_.release(out_buf_);
  out_off_ = out_len_ = 0;
}

void H2Session::close_transport() {
  release_buffers();
  transport_->close();  // pending waits end with an error: reading_/writing_ clear then
}

void H2Session::maybe_done() {
  if (closed_ || streams_ > 0 || codec_.want_read() || codec_.want_write()) return;
  closed_ = true;
  if (end_ == EndReason::kNone) end_ = EndReason::kPeerClosed;
  close_transport();
}

void H2Session::finish() {
  if (!closed_ || notified_ || reading_ || writing_ || posted_ > 0) return;
  notified_ = true;
  // Posted, so that whoever called us is not inside a destroyed session.
  asio::post(io_, [this] { handler_.on_closed(*this); });
}

// ---- control ------------------------------------------------------------------

bool H2Session::open(H2Stream& stream) {
  H2Stream::Pending* p = stream.pending();
  if (!usable() || !p || role_ != Role::kClient) return false;
  auto t = std::make_unique<Transaction>();
  std::vector<Header> extra;
  extra.reserve(p->headers.size());
  for (const auto& [name, value] : p->headers) extra.push_back({name, value});
  int32_t id = codec_.submit_connect(p->authority, extra, *t);
  if (id == 0) return false;
  t->id = id;
  t->stream = &stream;
  txns_.push_back(*t);
  ++streams_;
  stream.session_ = this;
  stream.txn_ = t.release();
  stream.pending_.reset();
  idle_ticks_ = 0;
  schedule_flush();
  return true;
}

void H2Session::go_away() {
  if (closed_ || going_away_) return;
  going_away_ = true;
  if (end_ == EndReason::kNone) end_ = EndReason::kClosed;
  codec_.go_away(kNoError);
  schedule_flush();
}

void H2Session::terminate(EndReason why) {
  if (lingering_) {
    lingering_ = false;
    close_transport();
  }
  fail(why, "");
  finish();
}

uint32_t H2Session::tick_after() const {
  if (closed_ || lingering_ || going_away_ || ping_ticks_ > 0 || (!heard_ && role_ == Role::kServer) ||
      (streams_ == 0 && timing_.idle_timeout > 0))
    return 1;
  for (const Transaction& t : txns_)
    if (!t.stream && !t.closed) return 1;  // lingering
  return quiet_ticks_ + 1 >= timing_.keepalive_interval ? 1 : timing_.keepalive_interval - quiet_ticks_;
}

void H2Session::on_tick(uint32_t seconds) {
  // Frames heard meanwhile reset the quiet count at any time; counting the whole wait
  // then makes the PING come early, never late: one per keepalive interval at most.
  quiet_ticks_ += seconds - 1;
  if (lingering_ && ++linger_ticks_ > kLingerSeconds) {
    lingering_ = false;
    close_transport();  // the pending read ends with an error, and finish() follows
  }
  if (closed_) return;
  if (!heard_ && role_ == Role::kServer && ++age_ticks_ > timing_.preface_timeout) {
    fail(EndReason::kPrefaceTimeout, "no HTTP/2 preface");
    finish();
    return;
  }
  if (ping_ticks_ > 0 && ++ping_ticks_ > timing_.keepalive_timeout + 1) {
    fail(EndReason::kKeepaliveTimeout, "no answer to PING");
    finish();
    return;
  }
  if (++quiet_ticks_ >= timing_.keepalive_interval && ping_ticks_ == 0) {
    codec_.ping();
    ping_ticks_ = 1;
    schedule_flush();
  }
  if (streams_ > 0) {
    idle_ticks_ = 0;
  } else if (timing_.idle_timeout > 0 && ++idle_ticks_ >= timing_.idle_timeout && !going_away_) {
    end_ = EndReason::kIdle;
    go_away();
  }
  for (Transaction& t : txns_) {
    if (!t.stream && !t.closed && ++t.linger_ticks > timing_.linger) {
      codec_.reset(t.id, kCancel);  // its peer does not take the last bytes
      schedule_flush();
    }
  }
}

// ---- codec events ------------------------------------------------------------

Transaction* H2Session::on_stream_opened(int32_t id) {
  if (going_away_ || closed_ || role_ != Role::kServer) return nullptr;
  auto* t = new Transaction;
  t->id = id;
  ++opened_;
  txns_.push_back(*t);
  ++streams_;
  idle_ticks_ = 0;
  return t;
}

bool H2Session::on_header(Transaction& t, std::string_view name, std::string_view value) {
  if (t.headers_done) return true;  // trailers: nothing we use
  if (!t.msg) t.msg = std::make_unique<Message>();
  t.msg->add_field(name, value, settings_.max_header_list);
  return true;
}

void H2Session::on_headers_done(Transaction& t) {
  if (t.headers_done) return;
  if (!t.msg) t.msg = std::make_unique<Message>();
  if (role_ == Role::kClient) {
    if (t.msg->status >= 100 && t.msg->status < 200) {
      t.msg.reset();  // interim response: the final one follows
      return;
    }
    t.headers_done = true;
    if (H2Stream* s = t.stream) {
      s->status_ = t.msg->status;
      s->msg_ = std::move(t.msg);
      if (s->reader_) wake(*s, true);
      else s->response_ready_ = true;
    }
    t.msg.reset();
    return;
  }
  t.headers_done = true;
  auto s = std::make_unique<H2Stream>(io_, std::make_shared<StreamMeta>());
  s->session_ = this;
  s->txn_ = &t;
  s->msg_ = std::move(t.msg);
  t.stream = s.get();
  requests_.push_back(std::move(s));
}

void H2Session::on_data(Transaction& t, const uint8_t* data, size_t n) {
  if (!t.stream) {
    codec_.consume(t.id, n);  // closed by its user: dropped, but the window comes back
    return;
  }
  t.in.append(data, n, buffers_);
  wake(*t.stream, true);
}

void H2Session::on_remote_end(Transaction& t) {
  t.remote_end = true;
  if (t.stream) wake(*t.stream, true);
}

void H2Session::on_stream_closed(Transaction& t, uint32_t error_code) {
  if (t.closed) return;
  t.closed = true;
  t.error = error_code;
  if (error_code != kNoError) {  // a reset: what was buffered is void
    discard_input(t);
    clear_out(t);
  }
  if (H2Stream* s = t.stream) {
    if (s->reader_) wake(*s, true);
    else if (role_ == Role::kClient && !t.headers_done) s->response_ready_ = true;  // no response will come
    wake(*s, false);
  } else {
    destroy(t);
  }
}

void H2Session::on_local_end(Transaction& t) {
  t.local_end = true;
  if (!t.stream && !t.remote_end && !t.closed) codec_.reset(t.id, kNoError);  // closed by its user: done
}

void H2Session::on_headers_sent(Transaction& t) {
  if (role_ != Role::kClient) return;
  t.can_send = true;
  if (!t.out.empty() || t.end_queued) send_again_.push_back(t.id);
}

long H2Session::data_ready(Transaction& t, size_t max, bool& end, bool& pause) {
  if (!t.out.empty()) {
    size_t n = std::min(max, t.out.size());
    end = t.end_queued && n == t.out.size();
    pause = t.pausing = !end && n == t.out.size();
    return static_cast<long>(n);
  }
  if (t.end_queued) {
    end = true;
    return 0;
  }
  t.deferred = true;
  return -1;
}

void H2Session::take_data(Transaction& t, uint8_t* out, size_t n) {
  t.out.take(out, n, buffers_);
  dequeued(n);
  if (t.pausing) {  // the source ends with this frame; bytes queued since need a new one
    t.pausing = t.sending = false;
    if (!t.out.empty() || t.end_queued) send_again_.push_back(t.id);
  }
  // Writers wake when half the queue is free, not for every frame.
  if (t.stream && t.out.size() <= send_limit(t) / 2) wake(*t.stream, false);
}

void H2Session::on_reset_received(Transaction& t) {
  if (role_ != Role::kServer || t.responded) return;
  ++premature_resets_;
  if (premature_resets_ >= kPrematureResets && premature_resets_ * 2 >= opened_) calm_down_ = true;
}

void H2Session::on_goaway(uint32_t error_code) {
  going_away_ = true;
  if (end_ == EndReason::kNone) end_ = error_code == kNoError ? EndReason::kPeerClosed : EndReason::kProtocolError;
}

}  // namespace ugate::h2

// H2Session, the streams' side: what an H2Stream's reads, writes, answers,
// half-closes and resets do to its transaction (the rest: h2_session.cc).
#include "mesh/h2_session.h"

#include <boost/asio/error.hpp>
#include <algorithm>

namespace ugate::h2 {
namespace {

bool is_2xx(int status) { return status >= 200 && status < 300; }

}  // namespace

size_t H2Session::stream_read(Transaction& t, asio::mutable_buffer buf, error_code& ec) {
  credit(t);
  if (t.error != kNoError) {
    ec = asio::error::connection_reset;
    return 0;
  }
  if (!t.in.empty()) {
    size_t n = t.in.take(static_cast<uint8_t*>(buf.data()), buf.size(), buffers_);
    t.unconsumed += static_cast<uint32_t>(n);
    ec = {};
    return n;
  }
  ec = t.remote_end || t.closed ? error_code(asio::error::eof) : error_code(asio::error::would_block);
  return 0;
}

size_t H2Session::stream_write(Transaction& t, asio::const_buffer buf, error_code& ec) {
  if (t.error != kNoError) {
    ec = asio::error::connection_reset;
    return 0;
  }
  if (t.end_queued || t.closed) {
    ec = asio::error::broken_pipe;
    return 0;
  }
  size_t room = stream_room(t);
  if (room == 0) {
    if (queued_ >= kConnectionSendQueue) queue_full_ = true;
    if (budget_.room() == 0) budget_.wait(*this);
    ec = asio::error::would_block;
    return 0;
  }
  size_t n = std::min(room, buf.size());
  t.out.append(static_cast<const uint8_t*>(buf.data()), n, buffers_);
  queued_ += n;
  budget_.add(n);
  want_send(t);
  ec = {};
  return n;
}

// Bytes or the end are queued on t: its DATA source goes on, or a new one is queued.
void H2Session::want_send(Transaction& t) {
  if (t.deferred) {
    t.deferred = false;
    codec_.resume(t.id);
  } else if (t.can_send && !t.sending && !t.local_end && !t.closed) {
    t.sending = codec_.submit_data(t.id, t);
  }
  schedule_flush();
}

// Sources that ended with bytes still queued, or streams whose HEADERS just
// went out: queued now that the codec returned (it takes a new source for a
// stream only once the old one is detached, after its last frame).
void H2Session::send_again() {
  for (int32_t id : send_again_)
    if (Transaction* t = codec_.transaction(id)) want_send(*t);
  send_again_.clear();
}

bool H2Session::stream_readable(const Transaction& t) const {
  return !t.in.empty() || t.remote_end || t.closed;
}

bool H2Session::stream_writable(const Transaction& t) const { return stream_room(t) > 0; }

// What a writer may queue on t now: up to what the peer's windows let us send
// (at least kMinSendQueue, so a source stays queued and the writer hears when
// the window opens), within the connection's cap and the worker's budget.
size_t H2Session::stream_room(const Transaction& t) const {
  if (t.closed || t.end_queued || t.error != kNoError || closed_) return SIZE_MAX;  // the write says why
  size_t limit = send_limit(t);
  size_t room = limit - std::min(t.out.size(), limit);
  room = std::min(room, kConnectionSendQueue - std::min(queued_, kConnectionSendQueue));
  return std::min(room, budget_.room());
}

size_t H2Session::send_limit(const Transaction& t) const {
  return std::clamp(codec_.send_window(t.id), H2Stream::kMinSendQueue, H2Stream::kSendQueue);
}

void H2Session::clear_out(Transaction& t) {
  size_t n = t.out.size();
  t.out.clear(buffers_);
  dequeued(n);
}

void H2Session::dequeued(size_t n) {
  if (n == 0) return;
  queued_ -= std::min(n, queued_);
  budget_.sub(n);
  if (queue_full_ && !closed_ && queued_ <= kConnectionSendQueue / 2) {
    queue_full_ = false;
    wake_writers();
  }
}

void H2Session::on_budget() {  // posted by the budget: outside the codec
  if (closed_) return;
  wake_writers();
  deliver();
}

// Every stream whose writer waits: after the codec returns (deliver), or at once when outside it.
void H2Session::wake_writers() {
  for (Transaction& t : txns_)
    if (t.stream && t.stream->writer_) wake(*t.stream, false);
}

void H2Session::stream_shutdown(Transaction& t) {
  if (t.end_queued || t.closed) return;
  t.end_queued = true;
  want_send(t);
}

void H2Session::stream_reset(Transaction& t) {
  if (!t.closed && !closed_) codec_.reset(t.id, kConnectError);
  t.error = kConnectError;
  clear_out(t);
  discard_input(t);
  schedule_flush();
}

void H2Session::stream_close(Transaction& t) {
  t.stream = nullptr;
  discard_input(t);
  if (closed_ || t.closed) {
    destroy(t);
    schedule_flush();  // maybe the connection is done now
    return;
  }
  if (role_ == Role::kServer && !t.responded) {
    codec_.reset(t.id, kCancel);  // never answered
  } else if (!t.end_queued) {
    stream_shutdown(t);  // END_STREAM after the queued bytes; see on_local_end
  } else if (t.local_end && !t.remote_end) {
    codec_.reset(t.id, kNoError);  // we are done: the peer may stop sending
  }
  schedule_flush();
}

bool H2Session::stream_respond(Transaction& t, int status,
                               const std::vector<std::pair<std::string, std::string>>& extra) {
  if (closed_ || t.closed || t.responded || role_ != Role::kServer) return false;
  std::vector<Header> headers;
  headers.reserve(extra.size());
  for (const auto& [name, value] : extra) headers.push_back({name, value});
  bool body = is_2xx(status);
  if (!codec_.submit_response(t.id, status, headers, body)) return false;
  t.responded = true;
  t.can_send = body;
  if (!body) t.end_queued = true;  // the HEADERS end our side
  schedule_flush();
  return true;
}

// The reader came back for more: what it took before has been written on.
void H2Session::credit(Transaction& t) {
  if (t.unconsumed == 0) return;
  codec_.consume(t.id, t.unconsumed);
  t.unconsumed = 0;
  schedule_flush();
}

// Input nobody will read still counts against the connection window.
void H2Session::discard_input(Transaction& t) {
  size_t n = t.in.size() + t.unconsumed;
  t.in.clear(buffers_);
  t.unconsumed = 0;
  if (n > 0 && !closed_) {
    codec_.consume(t.id, n);
    schedule_flush();
  }
}

void H2Session::destroy(Transaction& t) {
  t.in.clear(buffers_);
  clear_out(t);
  codec_.detach(t.id);
  --streams_;
  ++ended_;
  delete &t;  // unlinks itself from txns_
}

}  // namespace ugate::h2

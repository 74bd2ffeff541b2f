#include "mesh/h2_stream.h"

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <charconv>

#include "mesh/h2_session.h"

namespace ugate::h2 {

const std::string* Message::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return &v;
  return nullptr;
}

void Message::add_field(std::string_view name, std::string_view value, size_t limit) {
  bytes += name.size() + value.size() + 32;
  if (bytes > limit) {
    too_large = true;
    return;
  }
  if (name.empty() || name[0] != ':') headers.emplace_back(name, value);
  else if (name == ":status") std::from_chars(value.data(), value.data() + value.size(), status);
  else if (name == ":method") method = value;
  else if (name == ":authority") authority = value;
  else if (name == ":scheme") scheme = value;
  else if (name == ":path") path = value;
  else if (name == ":protocol") protocol = value;
}

const Message& H2Stream::message() const {
  static const Message kNone;
  return msg_ ? *msg_ : kNone;
}

H2Stream::H2Stream(asio::io_context& io, std::shared_ptr<StreamMeta> meta) : HboneStream(std::move(meta)), io_(io) {}

H2Stream::~H2Stream() { close(); }

void H2Stream::notify(Waiter*& w, const error_code& ec) {
  if (!w) return;
  Waiter* x = std::exchange(w, nullptr);
  asio::post(io_, [x, ec, posted = posted_, generation = posted_->generation] {
    if (posted->generation == generation) x->on_ready(ec);
  });
}

void H2Stream::forget_waits() {
  reader_ = writer_ = nullptr;
  ++posted_->generation;
  if (session_) session_->unwake(*this);
}

bool H2Stream::peer_finished() const {
  return session_ ? txn_->remote_end || txn_->closed : static_cast<bool>(error_) || closed_;
}

std::size_t H2Stream::write_room() const { return session_ ? session_->stream_room(*txn_) : SIZE_MAX; }

std::size_t H2Stream::try_read(asio::mutable_buffer buf, error_code& ec) {
  if (session_) return session_->stream_read(*txn_, buf, ec);
  ec = error_ ? error_ : error_code(asio::error::would_block);  // failed, or still waiting for a connection
  return 0;
}

std::size_t H2Stream::try_write(asio::const_buffer buf, error_code& ec) {
  if (session_) return session_->stream_write(*txn_, buf, ec);
  ec = error_ ? error_ : error_code(asio::error::would_block);
  return 0;
}

// Without a connection a wait completes at once: cancelled when the user
// closed the stream, ready when it failed (the next operation says why), and
// parks only while the stream waits for a connection.
void H2Stream::wait_readable(Waiter& w) {
  reader_ = &w;
  if (session_) {
    session_->credit(*txn_);
    if (std::exchange(response_ready_, false) || session_->stream_readable(*txn_)) notify(reader_, {});
  } else if (!pending_) {
    notify(reader_, closed_ ? error_code(asio::error::operation_aborted) : error_code());
  }
}

void H2Stream::wait_writable(Waiter& w) {
  writer_ = &w;
  if (session_) {
    if (session_->stream_writable(*txn_)) notify(writer_, {});
  } else if (!pending_) {
    notify(writer_, closed_ ? error_code(asio::error::operation_aborted) : error_code());
  }
}

void H2Stream::shutdown_write() {
  if (session_) session_->stream_shutdown(*txn_);
}

void H2Stream::reset() {
  if (session_) session_->stream_reset(*txn_);
  close();
}

void H2Stream::close() {
  if (session_) {
    session_->unwake(*this);  // a wake still queued would outlive the waiter: it is answered below
    session_->stream_close(*txn_);
  }
  session_ = nullptr;
  txn_ = nullptr;
  pending_.reset();
  closed_ = true;
  if (!error_) error_ = asio::error::bad_descriptor;
  notify(reader_, asio::error::operation_aborted);
  notify(writer_, asio::error::operation_aborted);
}

bool H2Stream::respond(int status, const Fields& extra) {
  return session_ && session_->stream_respond(*txn_, status, extra);
}

void H2Stream::set_pending(std::unique_ptr<Pending> p) {
  pending_ = std::move(p);
  pending_->stream = this;
}

void H2Stream::fail(const error_code& ec) {
  session_ = nullptr;
  txn_ = nullptr;
  pending_.reset();
  error_ = ec;
  // Readiness, not a cancelled wait: the next operation reports the error.
  notify(reader_, {});
  notify(writer_, {});
}

}  // namespace ugate::h2

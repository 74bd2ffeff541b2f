#include "quic/h3_stream.h"

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "quic/h3_connection.h"

namespace ugate::quic {

H3Stream::H3Stream(asio::io_context& io, std::shared_ptr<StreamMeta> meta, H3Connection& conn, Txn& txn)
    : HboneStream(std::move(meta)), io_(io), conn_(&conn), txn_(&txn) {}

H3Stream::~H3Stream() { close(); }

void H3Stream::notify(Waiter*& w, const error_code& ec) {
  if (!w) return;
  Waiter* x = std::exchange(w, nullptr);
  asio::post(io_, [x, ec, posted = posted_, generation = posted_->generation] {
    if (posted->generation == generation) x->on_ready(ec);
  });
}

void H3Stream::forget_waits() {
  reader_ = writer_ = nullptr;
  ++posted_->generation;
}

bool H3Stream::peer_finished() const { return conn_ ? txn_->remote_end || txn_->reset || txn_->closed : true; }

std::size_t H3Stream::write_room() const { return conn_ ? conn_->stream_room(*txn_) : SIZE_MAX; }

std::size_t H3Stream::try_read(asio::mutable_buffer buf, error_code& ec) {
  if (conn_) {
    status_ = txn_->status;
    return conn_->stream_read(*txn_, buf, ec);
  }
  ec = error_ ? error_ : error_code(asio::error::bad_descriptor);
  return 0;
}

std::size_t H3Stream::try_write(asio::const_buffer buf, error_code& ec) {
  if (conn_) return conn_->stream_write(*txn_, buf, ec);
  ec = error_ ? error_ : error_code(asio::error::bad_descriptor);
  return 0;
}

// Ready when an operation would not block: bytes, FIN or a reset to read;
// room, or an error, to write. Without a connection: at once.
void H3Stream::wait_readable(Waiter& w) {
  reader_ = &w;
  if (!conn_) {
    notify(reader_, error_ ? error_code() : error_code(asio::error::operation_aborted));
    return;
  }
  conn_->stream_credit(*txn_);  // the reader came back: what it took went on
  const bool answered = status_ == 0 && txn_->status != 0;  // client: the response is news
  status_ = txn_->status;
  if (answered || !txn_->in.empty() || txn_->remote_end || txn_->reset || txn_->closed) notify(reader_, {});
}

void H3Stream::wait_writable(Waiter& w) {
  writer_ = &w;
  if (!conn_) {
    notify(writer_, error_ ? error_code() : error_code(asio::error::operation_aborted));
    return;
  }
  if (conn_->stream_room(*txn_) > 0) notify(writer_, {});
  else conn_->stream_wait_room(*txn_);
}

void H3Stream::shutdown_write() {
  if (conn_) conn_->stream_shutdown(*txn_);
}

void H3Stream::reset() {
  if (conn_) conn_->stream_reset(*txn_);
  close();
}

void H3Stream::close() {
  if (conn_) conn_->stream_close(*txn_);
  conn_ = nullptr;
  txn_ = nullptr;
  if (!error_) error_ = asio::error::bad_descriptor;
  notify(reader_, asio::error::operation_aborted);
  notify(writer_, asio::error::operation_aborted);
}

bool H3Stream::respond(int status, const Fields& extra) { return conn_ && conn_->stream_respond(*txn_, status, extra); }

void H3Stream::fail(const error_code& ec) {
  conn_ = nullptr;
  txn_ = nullptr;
  error_ = ec;
  notify(reader_, {});  // readiness: the next operation reports the error
  notify(writer_, {});
}

}  // namespace ugate::quic

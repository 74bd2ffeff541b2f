#pragma once
// One HTTP/3 request stream of an HBONE connection over QUIC, in two parts
// as on HTTP/2 (mesh/h2_stream.h):
//  - Txn: the stream's state inside its connection (bytes received and not
//    read, bytes written and not acknowledged, FIN and reset flags). The
//    H3Connection owns it; it outlives the user's side while bytes still
//    have to go out.
//  - H3Stream: the user's side, a readiness-based Stream (an HboneStream) the
//    session proxies. Its owner may close it at any time.
//
// Flow control (DESIGN.md): bytes a reader took are credited back to the
// peer (MAX_STREAM_DATA, MAX_DATA) only when the reader comes back for more,
// that is once the proxy wrote them on, or when the stream ends.
#include <cstdint>
#include <memory>

#include "mesh/byte_queue.h"
#include "mesh/hbone_stream.h"
#include "quic/send_buffer.h"

namespace boost::asio {
class io_context;
}

namespace ugate::quic {

class H3Connection;
class H3Stream;

struct Txn {
  int64_t id = 0;
  H3Stream* user = nullptr;  // null once its owner closed it
  ByteQueue in;              // received, not yet read
  SendBuffer out;            // written, not yet acknowledged
  uint64_t unconsumed = 0;   // read but not yet credited to the peer
  bool remote_end = false;   // FIN received
  bool reset = false;        // the peer reset it, or it closed with an error
  bool end_queued = false;   // FIN after the queued bytes
  int status = 0;            // client: the response's :status
  bool responded = false;    // server: response HEADERS submitted; client: the response came
  bool tunnel = false;       // answered 200: DATA follows
  bool blocked = false;      // the data source said "would block": resume on the next write
  bool closed = false;       // QUIC closed the stream
  bool abandoned = false;    // its user closed it: what still arrives is dropped (and credited)
};

class H3Stream final : public HboneStream {
 public:
  // A writer may hold this many unacknowledged bytes.
  static constexpr size_t kSendQueue = 256 * 1024;

  H3Stream(asio::io_context& io, std::shared_ptr<StreamMeta> meta, H3Connection& conn, Txn& txn);
  ~H3Stream() override;

  std::size_t try_read(asio::mutable_buffer buf, error_code& ec) override;
  std::size_t try_write(asio::const_buffer buf, error_code& ec) override;
  void wait_readable(Waiter& w) override;
  void wait_writable(Waiter& w) override;
  void shutdown_write() override;
  void reset() override;  // H3_CONNECT_ERROR both ways: the peer's TCP side sees a reset
  void close() override;  // FIN after what is queued
  void forget_waits() override;
  bool peer_finished() const override;
  std::size_t write_room() const override;
  bool respond(int status, const Fields& extra) override;
  using HboneStream::respond;
  // Client: the response's status, 0 until it came (the stream is readable then).
  int status() const { return status_; }

 private:
  friend class H3Connection;
  struct Posted {
    uint32_t generation = 0;
  };
  void notify(Waiter*& w, const error_code& ec);
  // From the connection: something changed (bytes, FIN, acknowledgement, close).
  void wake_reader(const error_code& ec = {}) { notify(reader_, ec); }
  void wake_writer(const error_code& ec = {}) { notify(writer_, ec); }
  // The connection went: every operation fails from now on.
  void fail(const error_code& ec);

  asio::io_context& io_;
  H3Connection* conn_;
  Txn* txn_;
  Waiter* reader_ = nullptr;
  Waiter* writer_ = nullptr;
  error_code error_;
  int status_ = 0;
  std::shared_ptr<Posted> posted_ = std::make_shared<Posted>();
};

}  // namespace ugate::quic

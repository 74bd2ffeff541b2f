#pragma once
// One HTTP/2 stream, in two parts (proxygen's "transaction"):
//  - Transaction: the stream's state inside its connection (queued bytes,
//    END_STREAM and reset flags). The H2Session owns it; it outlives the user's
//    side while queued bytes still have to go out.
//  - H2Stream: the user's side, a readiness-based Stream the proxy engine moves
//    bytes through. Its owner may close it at any time.
//
// Flow control: bytes a reader took are credited back to the peer
// (WINDOW_UPDATE) when the reader comes back for more, that is once it wrote
// them on (the proxy reads again only after its buffer went out), or when the
// stream ends. A writer may queue what the peer's windows allow (between
// kMinSendQueue and kSendQueue), within its connection's and worker's caps.
#include <boost/intrusive/list.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/stream.h"
#include "mesh/byte_queue.h"
#include "mesh/hbone_stream.h"

namespace boost::asio {
class io_context;
}

namespace ugate::h2 {

class H2Session;

// What a request or response carried, bounded by Settings::max_header_list.
struct Message {
  int status = 0;                                            // response
  std::string method, authority, scheme, path, protocol;     // request pseudo-header fields
  std::vector<std::pair<std::string, std::string>> headers;  // regular fields, in order
  size_t bytes = 0;
  bool too_large = false;
  const std::string* header(std::string_view name) const;
  // One received field, HTTP/2 or HTTP/3 (the same accounting: RFC 9113 6.5.2,
  // RFC 9114 4.2.2): kept unless the head would pass `limit` bytes, which
  // sets too_large instead (answered 431 by a server).
  void add_field(std::string_view name, std::string_view value, size_t limit);
};

using IntrusiveHook = boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

class H2Stream;

class Transaction : public IntrusiveHook {
 public:
  int32_t id = 0;
  H2Stream* stream = nullptr;  // the user's side; null once it was closed
  ByteQueue in;                // received, not yet read
  ByteQueue out;               // written, not yet framed
  std::unique_ptr<Message> msg;  // being received (only then: an idle stream holds none)
  uint32_t unconsumed = 0;     // read but not yet credited to the peer
  uint32_t error = 0;          // the RST_STREAM code when reset
  uint16_t linger_ticks = 0;   // since the user closed it with bytes still to send
  bool headers_done = false;   // the request (server) or final response (client) arrived
  bool remote_end = false;     // END_STREAM received
  bool end_queued = false;     // shutdown_write: END_STREAM after the queued bytes
  bool local_end = false;      // END_STREAM sent
  bool can_send = false;       // DATA may be submitted: the stream's HEADERS went out (client), or a 2xx (server)
  bool sending = false;        // a DATA source is queued in the codec (submit_data, until it pauses or ends)
  bool pausing = false;        // the frame being sent takes all there is: the source ends with it
  bool deferred = false;       // the source waits for data_ready to have bytes (resume)
  bool responded = false;      // server: response HEADERS submitted
  bool closed = false;         // the codec closed the stream
};

class H2Stream final : public HboneStream {
 public:
  // A writer may queue what the peer's windows let us send, within these.
  static constexpr size_t kSendQueue = 512 * 1024;
  static constexpr size_t kMinSendQueue = 16 * 1024;

  H2Stream(asio::io_context& io, std::shared_ptr<StreamMeta> meta);
  ~H2Stream() override;

  std::size_t try_read(asio::mutable_buffer buf, error_code& ec) override;
  std::size_t try_write(asio::const_buffer buf, error_code& ec) override;
  void wait_readable(Waiter& w) override;
  void wait_writable(Waiter& w) override;
  void shutdown_write() override;
  void reset() override;  // RST_STREAM(CONNECT_ERROR): the peer's TCP side sees a reset
  void close() override;  // END_STREAM after what is queued
  void forget_waits() override;
  bool peer_finished() const override;
  std::size_t write_room() const override;

  // The request (server side, complete) or the response (client side, once
  // readable; status() is 0 until then), until taken: a stream keeps its
  // header fields only as long as its owner needs them.
  const Message& message() const;
  std::unique_ptr<Message> take_message() { return std::move(msg_); }
  int status() const { return status_; }
  // Server: answers the request (HboneStream).
  bool respond(int status, const Fields& extra) override;
  using HboneStream::respond;
  // Bound to a live connection (not waiting for one, not detached).
  bool attached() const { return session_ != nullptr; }
  // Received bytes not read yet (at most the stream window).
  size_t buffered() const { return txn_ ? txn_->in.size() : 0; }

  // Waiting for a connection (client pool): the request to send once there is one.
  struct Pending : IntrusiveHook {
    H2Stream* stream = nullptr;
    std::string authority;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  Pending* pending() { return pending_.get(); }
  void set_pending(std::unique_ptr<Pending> p);
  // Ends a stream that never got a connection, or whose connection died:
  // waits complete and every operation fails with ec.
  void fail(const error_code& ec);
  // Why the stream failed (connection lost, refused), or no error.
  const error_code& error() const { return error_; }
  // Client: the stream ended (reset, or the connection went) before a response came.
  bool ended_unanswered() const { return status() == 0 && (error_ || (txn_ && txn_->closed)); }
  // The connection it is on, while attached.
  H2Session* session() const { return session_; }

 private:
  friend class H2Session;
  // Answers a wait later (posted). forget_waits() voids answers still on
  // their way: the posted call checks the generation it was made in.
  struct Posted {
    uint32_t generation = 0;
  };
  void notify(Waiter*& w, const error_code& ec);

  asio::io_context& io_;
  H2Session* session_ = nullptr;
  Transaction* txn_ = nullptr;
  Waiter* reader_ = nullptr;
  Waiter* writer_ = nullptr;
  error_code error_;  // set once detached with an error
  bool response_ready_ = false;  // client: the response came while nobody waited
  bool closed_ = false;          // by its user
  std::unique_ptr<Message> msg_;
  int status_ = 0;  // of the response (client)
  std::unique_ptr<Pending> pending_;
  std::shared_ptr<Posted> posted_ = std::make_shared<Posted>();
};

}  // namespace ugate::h2

#pragma once
// H2Codec: the nghttp2 glue, and the only code that includes nghttp2.h.
//
// nghttp2 is a sans-I/O state machine: bytes in (feed), frames out (produce),
// callbacks in between. This class turns its C callbacks into calls on
// CodecEvents and its submit functions into small methods; it owns no socket,
// timer or stream state. The session (h2_session.h) does the I/O and the
// transactions (h2_stream.h) hold each stream's bytes.
//
// Flow control is manual (NGHTTP2_OPT_NO_AUTO_WINDOW_UPDATE): received DATA
// counts against the windows until consume() says it was delivered.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/h2_settings.h"

struct nghttp2_session;

namespace ugate::h2 {

// Error codes of RST_STREAM and GOAWAY (RFC 9113 section 7) that ugate uses.
enum ErrorCode : uint32_t {
  kNoError = 0x0,
  kProtocolError = 0x1,
  kInternalError = 0x2,
  kRefusedStream = 0x7,
  kCancel = 0x8,
  kConnectError = 0xa,
  kEnhanceYourCalm = 0xb,
};

struct Header {
  std::string_view name, value;
};

class Transaction;  // the per-stream user data the codec hands back

// What the codec reports. Called only from inside feed() and produce().
class CodecEvents {
 public:
  // The peer opened a stream (server role). Returns its transaction, or
  // nullptr to refuse it with RST_STREAM(REFUSED_STREAM).
  virtual Transaction* on_stream_opened(int32_t id) = 0;
  // One header field of a request or response; false resets the stream.
  virtual bool on_header(Transaction& t, std::string_view name, std::string_view value) = 0;
  // A request's or response's header block is complete.
  virtual void on_headers_done(Transaction& t) = 0;
  virtual void on_data(Transaction& t, const uint8_t* data, size_t n) = 0;
  virtual void on_remote_end(Transaction& t) = 0;  // END_STREAM received
  // The stream closed: both sides ended (kNoError) or a reset either way.
  virtual void on_stream_closed(Transaction& t, uint32_t error_code) = 0;
  // We sent a frame that ended our side of the stream.
  virtual void on_local_end(Transaction& t) = 0;
  // We sent a stream's HEADERS that left it open (a client's request): DATA may follow.
  virtual void on_headers_sent(Transaction& t) = 0;
  // Outbound DATA, for a source submit_data() queued. How many bytes (at most
  // `max`) are ready on t, and what follows them: `end` when they are the last
  // (END_STREAM), `pause` when they are all there is for now (the source ends
  // with this frame, without END_STREAM, so that an idle stream keeps no DATA
  // source in nghttp2; submit_data() again when there is more). -1 when
  // nothing is ready (the source waits until resume()).
  virtual long data_ready(Transaction& t, size_t max, bool& end, bool& pause) = 0;
  // Moves n bytes of t's queued data to `out` (n was granted by data_ready).
  virtual void take_data(Transaction& t, uint8_t* out, size_t n) = 0;
  virtual void on_frame_received() = 0;  // any frame: the peer is alive
  virtual void on_ping_ack() = 0;
  virtual void on_goaway(uint32_t error_code) = 0;
  // The peer reset a stream (RST_STREAM received); on_stream_closed follows.
  virtual void on_reset_received(Transaction& t) = 0;

 protected:
  ~CodecEvents() = default;
};

class H2Codec {
 public:
  enum class Role { kClient, kServer };

  // Queues the connection preface: SETTINGS and the connection window.
  H2Codec(Role role, const Settings& settings, CodecEvents& events);
  ~H2Codec();
  H2Codec(const H2Codec&) = delete;
  H2Codec& operator=(const H2Codec&) = delete;

  // Parses received bytes. Returns false on a connection error: a GOAWAY is
  // then queued and error() describes it.
  bool feed(const uint8_t* data, size_t n);
  // Serialises pending frames into out[len..cap), advancing len. Stops when
  // less than kMinRoom is free or nothing is pending. False on a fatal error.
  static constexpr size_t kMinRoom = 4096;
  bool produce(uint8_t* out, size_t cap, size_t& len);
  bool want_read() const;
  bool want_write() const;  // frames are pending (or a peer's GOAWAY is to be answered)
  const std::string& error() const { return error_; }
  // nghttp2 ended the connection itself (a connection error it found while
  // parsing, such as a header block HPACK cannot take): it sent GOAWAY with
  // this error code. 0 when it did not.
  uint32_t goaway_error_sent() const { return goaway_error_sent_; }

  // Client: a CONNECT request for `authority` with extra header fields, for
  // transaction t. Returns the stream id, or 0.
  int32_t submit_connect(std::string_view authority, const std::vector<Header>& extra, Transaction& t);
  // Server: the response HEADERS; with_body keeps the stream open for DATA,
  // otherwise the HEADERS end it.
  bool submit_response(int32_t id, int status, const std::vector<Header>& extra, bool with_body);
  // Queues a DATA source for the stream (data_ready, take_data): once its
  // HEADERS went out, and while it has none. False when the stream is gone.
  bool submit_data(int32_t id, Transaction& t);
  void resume(int32_t id);                     // data_ready may have more now
  Transaction* transaction(int32_t id) const;  // the stream's, or null once gone or detached
  void consume(int32_t id, size_t n);          // n received bytes were delivered: window credit
  void reset(int32_t id, uint32_t error_code);  // RST_STREAM
  void ping();
  void go_away(uint32_t error_code);  // GOAWAY with the last stream we processed
  void detach(int32_t id);            // the stream's transaction is gone: no more events for it
  bool stream_open(int32_t id) const;
  // What we may send on the stream now: its window and the connection's, the smaller.
  size_t send_window(int32_t id) const;
  uint32_t peer_max_concurrent_streams() const;

 private:
  struct Callbacks;
  nghttp2_session* session_ = nullptr;
  CodecEvents& events_;
  std::string error_;
  uint32_t goaway_error_sent_ = 0;
  std::string overflow_;  // a control frame that did not fit into produce()'s buffer
  uint8_t* out_ = nullptr;  // produce()'s buffer, for the DATA callback
  size_t out_cap_ = 0;
  size_t* out_len_ = nullptr;
};

}  // namespace ugate::h2

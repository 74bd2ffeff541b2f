#pragma once
// One QUIC connection carrying HBONE over HTTP/3, either side: ngtcp2 for
// QUIC, GnuTLS (ngtcp2_crypto_gnutls) for its TLS, nghttp3 for HTTP/3. This
// file and h3_connection.cc are the only ones that call the pre-1.0
// libraries, so their API changes stay here. Sans-I/O as the libraries are:
// packets come in through on_packet(), go out through the host, and the
// library's timer runs on the worker (one steady_timer per connection, set to
// ngtcp2's next expiry). Wake-ups that library callbacks cause (requests, a
// stream's readiness) are delivered after the library call returns.
#include <ngtcp2/ngtcp2.h>

#include <array>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/duration.h"
#include "base/meta.h"
#include "mesh/h2_stream.h"
#include "mesh/send_budget.h"
#include "quic/h3_stream.h"
#include "quic/tls_credentials.h"
#include "runtime/retire.h"

struct nghttp3_conn;
typedef struct gnutls_session_int* gnutls_session_t;
struct ngtcp2_crypto_conn_ref;

namespace ugate {
class BufferPool;
}

namespace ugate::quic {

using Udp = asio::ip::udp;
class H3Connection;

// The length of the connection IDs we choose (a listener decodes short headers with it).
inline constexpr size_t kCidLength = 18;
// The largest UDP payload a socket hands us (receive buffers are this big).
inline constexpr size_t kMaxDatagram = 65536;

// What a connection needs from the listener that owns it.
class ConnectionHost {
 public:
  // Packets for these connection IDs go to `c` (each connection has several over its life).
  virtual void bind_cid(const std::string& cid, H3Connection& c) = 0;
  virtual void unbind_cid(const std::string& cid) = 0;
  virtual void send(std::span<const uint8_t> packet, const Udp::endpoint& to) = 0;
  // Server: a request stream's head arrived.
  virtual void on_request(H3Connection& c, std::unique_ptr<H3Stream> stream, std::unique_ptr<h2::Message> msg) = 0;
  // The handshake ended, well or not (counted, logged once per outcome).
  virtual void on_handshake(H3Connection& c, Handshake outcome, const std::string& detail) = 0;
  // The connection is over: unbind its IDs, retire it.
  virtual void on_closed(H3Connection& c) = 0;
  // The key stateless reset tokens are derived from (RFC 9000 10.3.2).
  virtual std::span<const uint8_t> reset_secret() const = 0;

 protected:
  ~ConnectionHost() = default;
};

struct ConnectionOptions {
  Duration handshake_timeout{std::chrono::seconds(10)};
  Duration idle_timeout{std::chrono::seconds(300)};  // no packet either way (a client keeps it with PINGs)
  uint64_t max_streams = 1000;                       // concurrent request streams
  // Bytes written and not yet acknowledged, all streams together: each stream
  // holds at most H3Stream::kSendQueue, and this bounds their sum (as
  // H2Session::kConnectionSendQueue does), so max_streams slow readers cannot
  // make one connection hold max_streams x kSendQueue.
  size_t send_queue = 4u << 20;
};

// What its streams hold counts in the worker's send budget (shared with the
// HTTP/2 connections): a writer refused room, by its stream's cap, the
// connection's or the budget's, waits for writability and is woken when the
// peer acknowledged enough; bytes are never dropped.
class H3Connection final : public Retirable, private h2::SendBudget::Sender {
 public:
  enum class Role : uint8_t { kServer, kClient };
  H3Connection(Role role, ConnectionHost& host, asio::io_context& io, BufferPool& buffers,
               std::shared_ptr<h2::SendBudget> budget, std::shared_ptr<const Credentials> credentials,
               ConnectionOptions options);
  ~H3Connection() override;
  H3Connection(const H3Connection&) = delete;
  H3Connection& operator=(const H3Connection&) = delete;

  // The client's first Initial (decoded by ngtcp2_accept into `hd`). False:
  // the connection could not be set up; the host drops it.
  bool accept(const ngtcp2_pkt_hd& hd, const Udp::endpoint& local, const Udp::endpoint& remote,
              std::span<const uint8_t> packet);
  // Client: starts the handshake. The server must prove `pin` (its SPIFFE ID
  // or node ID; "": any identity the roots vouch for), as a mesh node's `id` pins it.
  bool connect(const Udp::endpoint& local, const Udp::endpoint& remote, std::string pin);
  // Client, once established: an HBONE CONNECT stream to `authority` ("host:port")
  // with `headers`; readable once the answer came (status()). Null when none can open now.
  std::unique_ptr<H3Stream> open_tunnel(const std::string& authority, const HboneStream::Fields& headers);
  void on_packet(std::span<const uint8_t> packet, const Udp::endpoint& local, const Udp::endpoint& remote);
  // Drain: CONNECTION_CLOSE(H3_NO_ERROR) now, streams fail.
  void shut_down();

  const Udp::endpoint& remote() const { return remote_; }
  const std::shared_ptr<const PeerIdentity>& peer() const { return peer_; }
  // The smoothed round-trip time so far.
  std::chrono::nanoseconds rtt() const;
  bool established() const { return handshake_reported_ && !failed_; }
  bool handshake_over() const { return handshake_reported_; }
  // Bytes its streams hold, written and not acknowledged.
  size_t queued() const { return queued_; }

 private:
  friend class H3Stream;
  struct Callbacks;  // the libraries' callbacks (h3_connection.cc)

  // H3Stream's operations on its Txn.
  size_t stream_read(Txn& t, asio::mutable_buffer buf, error_code& ec);
  size_t stream_write(Txn& t, asio::const_buffer buf, error_code& ec);
  size_t stream_room(const Txn& t) const;
  // No room for t's writer: it will hear when there is (the connection's cap or the budget).
  void stream_wait_room(const Txn& t);
  void stream_credit(Txn& t);
  void stream_shutdown(Txn& t);
  void stream_reset(Txn& t);
  void stream_close(Txn& t);  // its user is gone
  bool stream_respond(Txn& t, int status, const HboneStream::Fields& extra);

  ngtcp2_callbacks callbacks() const;
  ngtcp2_settings make_settings() const;
  ngtcp2_transport_params make_params() const;
  bool setup_tls();
  bool setup_http3();
  Txn& txn(int64_t id);
  Txn* find(int64_t id);
  void forget(Txn& t);  // erases it once QUIC closed it and its user is gone
  void credit(int64_t id, uint64_t n);
  // n of the held bytes left (acknowledged, or dropped with their stream).
  void dequeued(size_t n);
  void release_out(Txn& t);  // t's held bytes go: nothing will send them again
  void on_budget() override;  // room again in the worker's budget
  void wake_writers();
  // After any library call: send what is due, deliver wake-ups, set the timer; end if it failed.
  void flush();
  void schedule_flush();
  bool write_packets();
  void arm_timer();
  void on_timer();
  // Sends CONNECTION_CLOSE for `liberr` (a library error), then ends.
  void fail(int liberr, Handshake during = Handshake::kTlsFailed);
  // Sends CONNECTION_CLOSE with `err`, then ends.
  void close_with(const ngtcp2_connection_close_error& err);
  void end();
  void report_handshake(Handshake outcome, const std::string& detail);
  static uint64_t now_ns();

  Role role_;
  ConnectionHost& host_;
  asio::io_context& io_;
  BufferPool& buffers_;
  std::shared_ptr<h2::SendBudget> budget_;  // shared: the Mesh may go before the listener ends us
  std::shared_ptr<const Credentials> credentials_;
  ConnectionOptions options_;
  ngtcp2_conn* conn_ = nullptr;
  nghttp3_conn* h3_ = nullptr;
  gnutls_session_t tls_ = nullptr;
  std::unique_ptr<ngtcp2_crypto_conn_ref> conn_ref_;
  Udp::endpoint local_, remote_;
  asio::steady_timer timer_;
  uint64_t armed_ = UINT64_MAX;  // the expiry timer_ waits for (ngtcp2_tstamp); none
  std::unordered_map<int64_t, std::unique_ptr<Txn>> txns_;
  std::vector<std::string> cids_;                 // bound at the host
  std::vector<int64_t> new_requests_;             // heads complete, to hand over after the library call
  std::unordered_map<int64_t, std::unique_ptr<h2::Message>> heads_;  // request heads being received
  std::shared_ptr<const PeerIdentity> peer_;
  std::string pin_;                               // client: who the server must be
  Handshake refusal_ = Handshake::kAccepted;      // set by the verify or ALPN check when it refused
  std::string refusal_detail_;
  int h3_error_ = 0;  // nghttp3's error that failed a callback
  size_t queued_ = 0;       // sum of the streams' held bytes (SendBuffer::size)
  bool queue_full_ = false;  // a writer was refused for options_.send_queue
  bool handshake_reported_ = false;
  bool flush_posted_ = false;
  bool failed_ = false;
  bool ended_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for posted flushes
};

}  // namespace ugate::quic

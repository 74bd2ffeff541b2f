#pragma once
// Session: the life of one accepted stream, the same for every door:
// sniff (in the door, with sniff_timeout) -> route -> dial (with connect
// timeout) -> proxy (with idle timeout) -> close (stats, access-log line).
// Deadlines run on the worker's tick.
//
// The door's coroutine owns the session while it routes and dials; once the
// proxy runs, the session owns itself and retires (Worker::retire) when the
// proxy reports done, so an established idle stream holds no coroutine frames.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/stream.h"
#include "transport/tcp_stream.h"
#include "transport/tls_stream.h"
#include "transport/proxy.h"
#include "runtime/tracked.h"
#include "listener/listener_slot.h"
#include "runtime/worker.h"

namespace ugate {

// How a dial ended, for a door that answers its client (see ForwardOptions).
struct DialOutcome {
  CloseReason result;    // kDone, or why no upstream connection was made
  TcpEndpoint upstream;  // the address connected to (kDone only)
  TcpEndpoint local;     // our end of that connection (SOCKS5's BND.ADDR)
};

// What a door adds to a plain forward; both are optional.
struct ForwardOptions {
  // Bytes the door consumed from the client that belong to the upstream (read
  // past a SOCKS request or an HTTP request head): written to it first.
  std::string replay;
  // Called once, when the dial is over and before any byte is proxied; its
  // bytes go to the client first (a SOCKS5 reply, "HTTP/1.1 200", or "" when
  // the door answers on its own stream, as HBONE does with HEADERS). A door
  // that answers gets to answer timeouts too, and a failed dial then ends
  // with an orderly close after the answer instead of a reset.
  std::function<std::string(const DialOutcome&)> reply;
  // The client named the destination through the mesh port (HBONE): dial
  // only this node's own addresses or mesh nodes (ConnectRequest).
  bool own_addresses_only = false;
};

class Session final : public Tracked, public ProxyOwner {
 public:
  // `admission` is the stream's place among the listener's max_streams (ListenerSlot::admit), or
  // an empty one where the door holds that place itself for longer than this session.
  static std::unique_ptr<Session> create(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> downstream,
                                         Admission admission);
  ~Session() override;

  // The stream of an accepted connection, with its metadata started.
  static std::unique_ptr<TcpStream> accepted_stream(Worker& worker, ListenerSlot& slot, int fd,
                                                    const AcceptedFrom& from);
  // Starts the metadata of a new stream from `peer` on `slot` (id, times).
  static void start_meta(StreamMeta& meta, ListenerSlot& slot, TcpEndpoint peer);
  // The door reads the client's first bytes until `timeout` (sniff_timeout).
  void start_sniffing(Duration timeout);
  // Layers TLS (server side) over the accepted client stream (a socket, or
  // an HBONE tunnel that carries a mesh connection), which must not be TLS
  // already: the new stream, or null when OpenSSL is out of memory (the
  // stream is then unchanged). Then the door runs the
  // handshake, bounded by start_handshake(handshake_timeout).
  TlsStream* accept_tls(SSL_CTX* ctx);
  void start_handshake(Duration timeout);
  // Dials `destination`, answers the client and replays consumed bytes as
  // `options` say, then proxies; `self` is released to the proxy.
  static asio::awaitable<void> forward(std::unique_ptr<Session> self, HostPort destination, ForwardOptions options);
  static asio::awaitable<void> forward(std::unique_ptr<Session> self, HostPort destination) {
    ForwardOptions none;  // not a default argument: see "Coroutines and GCC 12" in ARCHITECTURE.md
    return forward(std::move(self), std::move(destination), std::move(none));
  }
  // The steps of forward(), for a door that dials once per request (HTTP
  // absolute-URI requests on a kept-alive connection): resolves and connects
  // `destination` within connect_timeout; kDone with upstream() connected,
  // or why not. With `answers`, a timeout leaves the client open for the
  // door's answer, as ForwardOptions::reply does.
  asio::awaitable<CloseReason> dial(HostPort destination, bool answers);
  // For such a door, after its request went out: the upstream's answer must
  // begin within `timeout`. When it does not, the upstream is closed (its read
  // fails), answer_timed_out() turns true, and the door gets kAnswerGrace to
  // tell its client (a 504) before the stream is cut. start_relaying() ends
  // the wait.
  void await_answer(Duration timeout);
  bool answer_timed_out() const { return answer_expired_; }
  Stream& upstream() { return *up_; }
  bool has_upstream() const { return up_ != nullptr; }
  void close_upstream();
  // Such doors write one access-log line per exchange: begin_exchange()
  // starts one (its time and byte counts start afresh), end_exchange() logs
  // it. The connection's end logs only an exchange still open, if any.
  void begin_exchange();
  bool exchange_open() const { return exchange_open_; }
  void end_exchange(CloseReason result);
  // Hands the client's stream to something that is not one stream (the
  // HBONE server: a connection of many streams, each a session of its own),
  // once the door is done with it (TLS accepted). The session then ends
  // without an access-log line.
  std::unique_ptr<Stream> hand_over();
  // Ends the stream now without dialing (no route, bad request): with a
  // reset, or, after the door's answer, with an orderly close (FIN).
  void fail(CloseReason reason);
  void finish(CloseReason reason);
  // For a door that moves the bytes itself (a SOCKS5 UDP association): from
  // now on the stream is proxying (idle timeout, /debug/streams), and the
  // door calls active() whenever bytes move. abort() closes the downstream.
  void start_relaying(Duration idle_timeout);
  // The authorization decision for the stream's metadata as it is now,
  // recorded and counted: kDone or kDenied (dial() asks it for every stream).
  CloseReason authorize();
  void active() { last_active_ = worker_.now_tick(); }

  StreamMeta& meta() { return down_->meta(); }

  void on_tick(uint32_t now_tick) override;
  void abort(CloseReason reason) override;
  void describe(nlohmann::json& out, uint32_t now_tick) const override;
  void proxy_done(CloseReason reason) override;

 private:
  enum class Phase : uint8_t { kRouting, kSniffing, kHandshaking, kConnecting, kAwaitingAnswer, kProxying, kClosed };
  // After connect_timeout a door that answers gets this long to tell its
  // client (the dial is given up at once); then the stream is cut.
  static constexpr std::chrono::seconds kAnswerGrace{1};
  void enter_timed_phase(Phase phase, Duration limit);
  const TcpEndpoint* admin_guard() const;
  Session(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> downstream, Admission admission);

  Worker& worker_;
  ListenerSlot& slot_;
  Admission admission_;
  std::unique_ptr<Stream> down_;
  std::unique_ptr<Stream> up_;  // being connected, then connected (TCP, or a mesh CONNECT stream)
  TcpEndpoint up_local_;        // our end of a TCP upstream
  std::optional<Proxy> proxy_;
  Phase phase_ = Phase::kRouting;
  CloseReason aborted_ = CloseReason::kDone;  // set when ended from outside (timeout, drain)
  uint32_t deadline_ = 0;  // of the sniffing or connecting phase
  uint32_t last_active_ = 0;
  uint32_t relay_idle_ticks_ = 0;  // start_relaying's idle timeout, in ticks
  bool answers_ = false;       // the door replies to its client after the dial
  bool dial_expired_ = false;  // connect_timeout passed; the answer is due
  bool given_up_ = false;      // the dial is no longer waited for (expired, aborted): the connector stops
  bool own_addresses_only_ = false;  // ForwardOptions::own_addresses_only, for the dial
  bool answer_expired_ = false;  // await_answer's timeout passed; the door's 504 is due
  bool exchanges_ = false;     // the door logs per exchange (begin_exchange)
  bool exchange_open_ = false;
  bool handed_over_ = false;
};


}  // namespace ugate

// `protocol: auto`: one port for SOCKS5, the HTTP proxy, HBONE (HTTP/2 with
// prior knowledge) and TLS routed by SNI. The first bytes are only peeked,
// so the door that takes the connection reads them as if it had accepted it
// itself, and a TLS upstream gets the whole handshake.
#include <nlohmann/json.hpp>

#include <array>
#include <atomic>

#include "session/session.h"
#include "doors/doors.h"
#include "transport/peek.h"
#include "codec/sniff.h"
#include "mesh/hbone_server.h"

namespace ugate {
namespace {

// The connection while its first bytes are peeked. It has no Session yet
// (HBONE makes one per CONNECT stream, not per connection), so this keeps a
// session's duties for that phase: the sniff_timeout deadline on the
// worker's tick, drain, /debug/streams (its place among max_streams is the
// door's AcceptedFrom::admission, until a Session takes it).
class Sniffing final : public Tracked {
 public:
  Sniffing(Worker& worker, ListenerSlot& slot, TcpStream& client) : slot_(slot), client_(client) {
    slot_.stats.active.add();
    worker.track(*this);  // first: it starts the worker's clock when the worker was idle
    start_ = worker.now_tick();
    deadline_ = start_ + Worker::ticks(slot.config->sniff_timeout);
  }
  ~Sniffing() override {
    slot_.stats.active.sub();
  }
  Sniffing(const Sniffing&) = delete;
  Sniffing& operator=(const Sniffing&) = delete;

  // kDone, or why the connection was ended from outside (timeout, drain).
  CloseReason ended() const { return ended_; }

  void on_tick(uint32_t now) override {
    if (static_cast<int32_t>(now - deadline_) >= 0) abort(CloseReason::kSniffTimeout);
  }
  void abort(CloseReason reason) override {
    if (ended_ != CloseReason::kDone) return;
    ended_ = reason;
    client_.reset();  // ends the peek's wait
  }
  void describe(nlohmann::json& out, uint32_t now) const override {
    describe_meta(*client_.shared_meta(), "sniffing", static_cast<uint64_t>(now - start_) * Worker::kTick.count(), out);
  }

 private:
  ListenerSlot& slot_;
  TcpStream& client_;
  uint32_t start_ = 0, deadline_ = 0;
  CloseReason ended_ = CloseReason::kDone;
};

using SniffResult = Result<Sniff, SniffError>;

// Peeks until the bytes say which protocol they are, the client stops, or
// the deadline; kDone with `sniffed` set, else why not.
asio::awaitable<CloseReason> sniff(Worker& worker, ListenerSlot& slot, TcpStream& client, SniffResult& sniffed) {
  Sniffing sniffing(worker, slot, client);
  auto buf = std::make_unique<std::array<uint8_t, kMaxSniffBytes>>();
  auto decided = [&sniffed](std::span<const uint8_t> bytes) {
    sniffed = sniff_protocol(bytes);
    return !sniffed.need_more();
  };
  co_await peek_until(client, *buf, decided);
  if (sniffing.ended() != CloseReason::kDone) co_return sniffing.ended();
  co_return sniffed ? CloseReason::kDone : CloseReason::kSniffFailed;
}

}  // namespace

asio::awaitable<void> auto_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from) {
  static std::atomic<bool> said_unknown{false}, said_h2c_users{false}, said_tls_no_routes{false};
  auto stream = Session::accepted_stream(worker, slot, fd, from);
  TcpStream& client = *stream;
  SniffResult sniffed = SniffError{SniffError::kNeedMore};
  CloseReason result = co_await sniff(worker, slot, client, sniffed);
  StreamMeta& m = client.meta();
  if (sniffed) m.sniffed = to_string(sniffed->what);
  if (result == CloseReason::kSniffFailed && !sniffed.need_more())
    warn_once(said_unknown, slot, result,
              "its first bytes are not TLS, HTTP/1, HTTP/2 or SOCKS5 (" + to_string(sniffed.error()) + ")");
  if (result == CloseReason::kDone && sniffed->what == Sniffed::kH2c && !slot.config->users.empty()) {
    // HBONE has no proxy credentials: on a listener with users it would be a way around them.
    warn_once(said_h2c_users, slot, CloseReason::kAuthFailed,
              "HTTP/2 (HBONE) carries no proxy credentials, and this listener has users");
    result = CloseReason::kAuthFailed;
  }
  if (result != CloseReason::kDone) {
    auto session = Session::create(worker, slot, std::move(stream), std::move(from.admission));  // counts, logs
    session->fail(result);
    co_return;
  }

  if (sniffed->what == Sniffed::kH2c) {
    from.admission = Admission();  // each CONNECT stream takes a place of its own (hbone_door)
    serve_hbone(worker, slot, std::move(stream));  // a session per CONNECT stream
    co_return;
  }
  auto session = Session::create(worker, slot, std::move(stream), std::move(from.admission));
  if (sniffed->what == Sniffed::kTls) {
    if (slot.config->router.routes().empty())
      warn_once(said_tls_no_routes, slot, CloseReason::kNoRoute,
                "a TLS client, but this listener has no routes to choose by SNI");
    co_await route_by_sni(std::move(session), slot, sniffed->hello);
    co_return;
  }
  Serve serve = sniffed->what == Sniffed::kSocks5 ? serve_socks5 : serve_http_proxy;
  co_await serve(worker, slot, std::move(session), client);
}

}  // namespace ugate

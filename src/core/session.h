#pragma once
// Session: the life of one accepted stream, the same for every door:
// sniff (in the door, with sniff_timeout) -> route -> dial (with connect
// timeout) -> proxy (with idle timeout) -> close (stats, access-log line).
// Deadlines run on the worker's tick.
//
// The door's coroutine owns the session while it routes and dials; once the
// proxy runs, the session owns itself and ends when the proxy reports done,
// so an established idle stream holds no coroutine frames.
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>

#include "core/stream.h"
#include "io/tcp_stream.h"
#include "io/proxy.h"
#include "io/tracked.h"
#include "io/worker.h"

namespace ugate {

class Session final : public Tracked, public ProxyOwner {
 public:
  static std::unique_ptr<Session> create(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> downstream);
  ~Session() override;

  // The stream of an accepted connection, with its metadata started.
  static std::unique_ptr<TcpStream> accepted_stream(Worker& worker, ListenerSlot& slot, int fd, TcpEndpoint peer);
  // The door reads the client's first bytes until `timeout` (sniff_timeout).
  void start_sniffing(Duration timeout);
  // Dials `destination`, then proxies; `self` is released to the proxy.
  static asio::awaitable<void> forward(std::unique_ptr<Session> self, HostPort destination);
  // Ends the stream now without dialing (no route, bad request).
  void fail(CloseReason reason);

  StreamMeta& meta() { return down_->meta(); }

  void on_tick(uint32_t now_tick) override;
  void abort(CloseReason reason) override;
  void describe(nlohmann::json& out, uint32_t now_tick) const override;
  void proxy_done(CloseReason reason) override;

 private:
  enum class Phase : uint8_t { kRouting, kSniffing, kConnecting, kProxying, kClosed };
  void enter_timed_phase(Phase phase, Duration limit);
  Session(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> downstream);

  Worker& worker_;
  ListenerSlot& slot_;
  std::unique_ptr<Stream> down_;
  std::unique_ptr<TcpStream> up_;  // being connected, then connected
  std::optional<Proxy> proxy_;
  Phase phase_ = Phase::kRouting;
  CloseReason aborted_ = CloseReason::kDone;  // set when ended from outside (timeout, drain)
  uint32_t deadline_ = 0;  // of the sniffing or connecting phase
  uint32_t last_active_ = 0;
};


}  // namespace ugate

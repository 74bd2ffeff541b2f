#pragma once
// A Connector for tests (session, doors): it records what each dial asked for
// (the destination and the stream's metadata at that moment), then answers as
// the test chose: a real TCP connection to a loopback port of the test (so
// bytes can be checked end to end), a refusal with a reason of its own, or a
// dial that does not end until the session gives it up (connect_timeout).
// Called on the worker's thread; the test reads the records from its own.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "transport/tcp_connect.h"
#include "transport/tcp_stream.h"
#include "upstream/connector.h"

namespace ugate::test {

// One dial, as the connector saw it.
struct ConnectCall {
  std::string destination;  // HostPort::str()
  std::string protocol, listener, sniffed, sni, alpn, user, peer_spiffe, via;
  std::string headers;  // the recorded request headers (HBONE), as "name: value\n" lines
  TcpEndpoint source;
  TcpEndpoint original_dst;
  bool guarded = false;  // the admin port was given as forbidden
  bool own_addresses_only = false;  // a mesh stream's client named it: no relay beyond this node
};

class FakeConnector final : public Connector {
 public:
  asio::awaitable<Connected> connect(const ConnectRequest& request, std::unique_ptr<Stream>& up) override {
    record(request);
    Connected out;
    out.result = refusal;
    if (hang) {
      // Never connects: the session's deadline (or an abort) gives the dial up.
      asio::steady_timer timer(co_await asio::this_coro::executor);
      while (!(request.given_up && *request.given_up)) {
        timer.expires_after(std::chrono::milliseconds(5));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      out.result = CloseReason::kConnectFailed;  // the session says why (its deadline)
      co_return out;
    }
    if (refusal == CloseReason::kDone) {
      Endpoints to{{asio::ip::make_address("127.0.0.1"), port}};
      out.result = co_await connect_tcp(to, *poller, request.meta, up);
      if (out.result == CloseReason::kDone) out.local = static_cast<TcpStream&>(*up).local_endpoint();
    }
    co_return out;
  }

  // Waits (bounded) until `n` dials were made; false when they were not.
  bool wait_calls(int n, std::chrono::milliseconds limit = std::chrono::milliseconds(3000)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [&] { return static_cast<int>(records_.size()) >= n; });
  }
  std::vector<ConnectCall> records() {
    std::lock_guard lock(mutex_);
    return records_;
  }
  ConnectCall last() {
    std::lock_guard lock(mutex_);
    return records_.empty() ? ConnectCall{} : records_.back();
  }

  // What the next dials do (set before they happen).
  Poller* poller = nullptr;  // the worker's, for the loopback connection
  uint16_t port = 0;         // where a successful dial connects (127.0.0.1)
  CloseReason refusal = CloseReason::kDone;  // anything else: the dial fails with it
  bool hang = false;                         // the dial waits until given up

  // What they asked.
  std::atomic<int> calls{0};
  std::string asked;     // the last destination (written on the worker's thread)
  bool guarded = false;  // the last dial had an admin guard

 private:
  void record(const ConnectRequest& request) {
    ConnectCall c;
    c.destination = request.destination.str();
    c.via = std::string(request.via);
    c.guarded = request.forbidden != nullptr;
    c.own_addresses_only = request.own_addresses_only;
    if (const StreamMeta* m = request.meta.get()) {
      c.protocol = m->protocol;
      c.listener = m->listener;
      c.sniffed = m->sniffed;
      c.sni = m->sni;
      c.alpn = m->alpn;
      c.user = m->user;
      c.peer_spiffe = m->peer_spiffe();
      c.source = m->source;
      c.original_dst = m->original_dst;
      m->headers.for_each([&c](std::string_view name, std::string_view value) {
        c.headers += std::string(name) + ": " + std::string(value) + "\n";
      });
    }
    asked = c.destination;
    guarded = c.guarded;
    {
      std::lock_guard lock(mutex_);
      records_.push_back(std::move(c));
    }
    ++calls;
    cv_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<ConnectCall> records_;
};

}  // namespace ugate::test

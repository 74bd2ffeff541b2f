#pragma once
// co_await on a Stream's readiness, for coroutines (set-up code such as
// connecting or sniffing); the proxy's steady state uses Waiter directly.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string_view>

#include "base/stream.h"

namespace ugate {

namespace detail {
// The one `delete this` outside Worker::retire (ARCHITECTURE.md, "Lifetimes"):
// an operation, not an object with a life of its own, freed by its own
// completion as Asio frees its operations. The stream lets go of a waiter
// before calling it, the handler is moved out first, nothing touches the op
// afterwards, and a Stream names no worker to retire it to.
template <typename Handler>
class WaitOp final : public Waiter {
 public:
  explicit WaitOp(Handler h) : handler_(std::move(h)) {}
  void on_ready(const error_code& ec) override {
    // Resume the coroutine from its executor, not from inside the poller.
    auto ex = asio::get_associated_executor(handler_);
    asio::post(ex, [h = std::move(handler_), ec]() mutable { std::move(h)(ec); });
    delete this;
  }

 private:
  Handler handler_;
};
}  // namespace detail

inline asio::awaitable<error_code> wait_ready(Stream& stream, bool for_write) {
  constexpr auto token = asio::as_tuple(asio::use_awaitable);
  auto [ec] = co_await asio::async_initiate<decltype(token), void(error_code)>(
      [&stream, for_write](auto handler) {
        auto* op = new detail::WaitOp<decltype(handler)>(std::move(handler));
        for_write ? stream.wait_writable(*op) : stream.wait_readable(*op);
      },
      token);
  co_return ec;
}

inline asio::awaitable<error_code> wait_readable(Stream& s) { return wait_ready(s, false); }
inline asio::awaitable<error_code> wait_writable(Stream& s) { return wait_ready(s, true); }

// Writes all of `bytes`, waiting for room when needed: for the few bytes of
// set-up (a door's answer, replayed bytes), not for proxying.
inline asio::awaitable<error_code> write_all(Stream& s, std::string_view bytes) {
  while (!bytes.empty()) {
    error_code ec;
    std::size_t n = s.try_write(asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec == asio::error::would_block) {
      if ((ec = co_await wait_writable(s))) co_return ec;
    } else if (ec && ec != asio::error::interrupted) {
      co_return ec;
    }
    bytes.remove_prefix(n);
  }
  co_return error_code{};
}

}  // namespace ugate

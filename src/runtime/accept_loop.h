#pragma once
// The accept loop of the servers on the control thread (admin, webpush): a
// coroutine per connection, at most `max` open at once; a connection over the
// limit is closed at once (its client can retry). An exception escaping a
// connection is logged and counted (spawn), never fatal.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>

#include "runtime/spawn.h"

namespace ugate {

namespace asio = boost::asio;

// `open` counts the live connections; it must outlive the acceptor's context.
template <class Serve>
asio::awaitable<void> accept_connections(asio::ip::tcp::acceptor& acceptor, size_t max, size_t& open,
                                         std::string what, Serve serve) {
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) break;
    if (ec || open >= max) continue;
    ++open;
    spawn(acceptor.get_executor(), serve(std::move(socket)), what, [&open] { --open; });
  }
}

}  // namespace ugate

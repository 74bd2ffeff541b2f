#pragma once
// Reading a client's first bytes without consuming them (MSG_PEEK), for the
// doors that route by them (tls-sni, auto): the kernel still delivers the
// bytes to whoever reads the socket next, so nothing needs replaying and the
// proxy can still splice.
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <span>

#include "transport/stream_wait.h"
#include "transport/tcp_stream.h"

namespace ugate {

// Peeks into `buf` until `enough(the bytes so far)` says so, the client has
// finished sending, or the stream fails or is closed (a deadline closes it).
// The buffer bounds what a client can make us hold; `enough` must decide
// once it is full, since nothing new can be seen after that. (References
// only: see "Coroutines and GCC 12" in ARCHITECTURE.md.)
template <class Enough>
asio::awaitable<void> peek_until(TcpStream& s, const std::span<uint8_t>& buf, Enough& enough) {
  for (;;) {
    error_code ec;
    size_t n = s.peek(asio::buffer(buf.data(), buf.size()), ec);
    if (ec && ec != asio::error::would_block) co_return;  // EOF, reset, or closed by the deadline
    if (enough(std::span<const uint8_t>(buf.data(), n)) || s.peer_finished()) co_return;
    ec = co_await wait_readable(s);
    if (ec) co_return;
  }
}

}  // namespace ugate

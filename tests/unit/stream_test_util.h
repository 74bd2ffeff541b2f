#pragma once
// Coroutine helpers for tests that drive a Stream: read it to the end, sleep,
// and open a CONNECT stream on an HTTP/2 session.
#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mesh/h2_session.h"
#include "transport/stream_wait.h"

namespace ugate::test {

// Reads until EOF (ec stays clear) or an error (ec says which).
inline asio::awaitable<std::string> read_to_end(Stream& s, error_code& ec, size_t chunk = 65536) {
  std::string out;
  std::vector<char> buf(chunk);
  for (;;) {
    size_t n = s.try_read(asio::buffer(buf), ec);
    if (n > 0) {
      out.append(buf.data(), n);
      continue;
    }
    if (ec == asio::error::would_block) {
      if ((ec = co_await wait_readable(s))) co_return out;
      continue;
    }
    if (ec == asio::error::eof) ec = {};
    co_return out;
  }
}

inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::use_awaitable);
}

// A client stream for CONNECT `authority` on an HTTP/2 session, sent at once
// (the tests' HBONE client side; the pool does the same with its own queue).
inline std::unique_ptr<h2::H2Stream> open_connect(asio::io_context& ctx, h2::H2Session& session, std::string authority,
                                                  std::vector<std::pair<std::string, std::string>> headers = {}) {
  auto s = std::make_unique<h2::H2Stream>(ctx, std::make_shared<StreamMeta>());
  auto p = std::make_unique<h2::H2Stream::Pending>();
  p->authority = std::move(authority);
  p->headers = std::move(headers);
  s->set_pending(std::move(p));
  EXPECT_TRUE(session.open(*s));
  return s;
}

}  // namespace ugate::test

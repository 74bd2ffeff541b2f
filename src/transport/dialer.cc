#include "transport/dialer.h"

#include <cerrno>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "transport/stream_wait.h"

namespace ugate {
using boost::system::error_code;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
}

asio::awaitable<Endpoints> Dialer::resolve(const HostPort& dest) {
  boost::system::error_code ec;
  auto literal = asio::ip::make_address(dest.host, ec);
  if (!ec) co_return Endpoints{{literal, dest.port}};

  std::string key = dest.str();
  if (auto it = cache_.find(key); it != cache_.end() && it->second.expires > std::chrono::steady_clock::now())
    co_return it->second.endpoints;

  auto [rec, results] = co_await resolver_.async_resolve(dest.host, std::to_string(dest.port),
                                                         asio::ip::resolver_base::numeric_service, use_nothrow);
  Entry entry;
  for (const auto& r : results) entry.endpoints.push_back(r.endpoint());
  // Failures are remembered briefly too, so a flood to a bad name costs one lookup.
  entry.expires = std::chrono::steady_clock::now() + (entry.endpoints.empty() ? kNegativeTtl : kCacheTtl);
  if (cache_.size() >= kCacheMax) cache_.clear();  // bounded; real configs name far fewer hosts
  cache_[key] = entry;
  co_return entry.endpoints;
}

asio::awaitable<CloseReason> Dialer::connect(const Endpoints& endpoints, Poller& poller,
                                             const std::shared_ptr<StreamMeta>& meta,
                                             std::unique_ptr<Stream>& up) {
  CloseReason result = CloseReason::kConnectFailed;
  for (const auto& ep : endpoints) {
    int err = 0;
    auto tcp = TcpStream::connect(ep, poller, meta, err);
    if (!tcp) co_return CloseReason::kOverload;  // out of descriptors
    TcpStream& s = *tcp;
    up = std::move(tcp);
    if (err == EINPROGRESS) {
      error_code ec = co_await wait_writable(s);
      if (ec) co_return CloseReason::kConnectTimeout;  // closed by the caller
      // A failed connect always comes with EPOLLERR; without it there is no
      // error to fetch, and one getsockopt per connection is saved.
      err = s.peer_finished() ? s.socket_error() : 0;
    }
    if (err == 0) {
      meta->upstream = ep;
      co_return CloseReason::kDone;
    }
    result = err == ECONNREFUSED                         ? CloseReason::kConnectRefused
             : err == ETIMEDOUT                          ? CloseReason::kConnectTimeout
             : err == ENETUNREACH || err == EHOSTUNREACH ? CloseReason::kUnreachable
                                                         : CloseReason::kConnectFailed;
    up.reset();
  }
  co_return result;
}

}  // namespace ugate

#include "io/dialer.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

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

asio::awaitable<CloseReason> Dialer::connect(const Endpoints& endpoints, asio::ip::tcp::socket& socket,
                                             asio::ip::tcp::endpoint& connected) {
  CloseReason result = CloseReason::kConnectFailed;
  for (const auto& ep : endpoints) {
    // Our own non-blocking connect: the descriptor is born non-blocking and
    // no poll(2) runs after the wait, unlike asio::async_connect.
    int fd = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) co_return CloseReason::kOverload;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = ::connect(fd, ep.data(), static_cast<socklen_t>(ep.size()));
    int err = rc == 0 ? 0 : errno;
    error_code ec;
    socket.assign(ep.protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      co_return CloseReason::kOverload;
    }
    if (err == EINPROGRESS) {
      auto [wec] = co_await socket.async_wait(asio::socket_base::wait_write, use_nothrow);
      if (wec || !socket.is_open()) co_return CloseReason::kConnectTimeout;  // closed by the caller
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    }
    if (err == 0) {
      connected = ep;
      co_return CloseReason::kDone;
    }
    result = err == ECONNREFUSED ? CloseReason::kConnectRefused
             : err == ETIMEDOUT  ? CloseReason::kConnectTimeout
                                 : CloseReason::kConnectFailed;
    socket.close(ec);
  }
  co_return result;
}

}  // namespace ugate

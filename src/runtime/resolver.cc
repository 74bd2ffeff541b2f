#include "runtime/resolver.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ugate {

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
}

asio::awaitable<Endpoints> Resolver::resolve(const HostPort& dest) {
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

}  // namespace ugate

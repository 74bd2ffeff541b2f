#pragma once
// Resolver: a destination's addresses, looked up asynchronously with a small
// per-worker cache (failures remembered briefly too). IP literals need no
// lookup.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/endpoint.h"

namespace ugate {

namespace asio = boost::asio;
using Endpoints = std::vector<asio::ip::tcp::endpoint>;

class Resolver {
 public:
  static constexpr std::chrono::seconds kCacheTtl{30};
  static constexpr std::chrono::seconds kNegativeTtl{1};
  static constexpr size_t kCacheMax = 1024;

  explicit Resolver(asio::any_io_executor ex) : resolver_(std::move(ex)) {}

  // The addresses of dest; empty when the name does not resolve.
  asio::awaitable<Endpoints> resolve(const HostPort& dest);

 private:
  struct Entry {
    Endpoints endpoints;
    std::chrono::steady_clock::time_point expires;
  };
  asio::ip::tcp::resolver resolver_;
  std::unordered_map<std::string, Entry> cache_;  // key: host:port
};

}  // namespace ugate

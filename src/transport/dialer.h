#pragma once
// Dialer: resolves a destination (asynchronously, with a small per-worker
// cache) and connects to it, trying each address in turn. Timeouts are the
// caller's: it closes the stream to give up.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/endpoint.h"
#include "base/meta.h"
#include "transport/tcp_stream.h"

namespace ugate {

namespace asio = boost::asio;
using Endpoints = std::vector<asio::ip::tcp::endpoint>;

class Dialer {
 public:
  static constexpr std::chrono::seconds kCacheTtl{30};
  static constexpr std::chrono::seconds kNegativeTtl{1};
  static constexpr size_t kCacheMax = 1024;

  explicit Dialer(asio::any_io_executor ex) : resolver_(std::move(ex)) {}

  // The addresses of dest; empty when the name does not resolve. IP literals
  // need no lookup.
  asio::awaitable<Endpoints> resolve(const HostPort& dest);

  // Connects to the first address that answers. `up` holds the stream being
  // connected all along (closing it gives up); on success (kDone) it stays
  // connected (a TcpStream) and meta.upstream says where.
  static asio::awaitable<CloseReason> connect(const Endpoints& endpoints, Poller& poller,
                                              const std::shared_ptr<StreamMeta>& meta,
                                              std::unique_ptr<Stream>& up);

 private:
  struct Entry {
    Endpoints endpoints;
    std::chrono::steady_clock::time_point expires;
  };
  asio::ip::tcp::resolver resolver_;
  std::unordered_map<std::string, Entry> cache_;  // key: host:port
};

}  // namespace ugate

#pragma once
// What the admin server shows of a running node: its config, readiness,
// identity, streams, nodes, listeners and metrics. The composition root (Gate)
// implements it, so admin depends on the modules it reads and never on the
// server; the modules' metrics come through the registry they filled.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>

namespace ugate {

struct Config;
class MetricRegistry;

class AdminView {
 public:
  virtual const Config& config() const = 0;
  virtual size_t worker_count() const = 0;
  virtual bool ready() const = 0;
  virtual bool draining() const = 0;
  virtual std::chrono::steady_clock::time_point started() const = 0;
  virtual uint64_t active_streams() const = 0;
  virtual const MetricRegistry& metrics() const = 0;  // complete once the node is ready
  virtual boost::asio::awaitable<nlohmann::json> describe_streams() = 0;  // asks each worker on its thread
  virtual boost::asio::awaitable<nlohmann::json> describe_nodes() = 0;
  virtual nlohmann::json describe_listeners() const = 0;
  virtual nlohmann::json describe_identity() const = 0;  // null when the node loaded none

 protected:
  ~AdminView() = default;
};

}  // namespace ugate

#pragma once
// What the admin server shows of a running node: its config, workers,
// identity, services and readiness. The composition root (Gate) implements
// it, so admin depends on the modules it reads and never on the server.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <vector>

namespace ugate {

struct Config;
class Worker;
class MeshIdentity;
class IdentityRenewer;
class CaService;
struct ListenerAuth;
struct ListenerGroup;
namespace discovery {
class Discovery;
}
namespace webpush {
class PushServer;
}

class AdminView {
 public:
  virtual const Config& config() const = 0;
  virtual const std::vector<std::unique_ptr<Worker>>& workers() const = 0;
  virtual bool ready() const = 0;
  virtual bool draining() const = 0;
  virtual std::chrono::steady_clock::time_point started() const = 0;
  virtual uint64_t active_streams() const = 0;
  // Null when the node has no identity, renewer, CA or discovery.
  virtual const MeshIdentity* identity() const = 0;
  virtual const IdentityRenewer* renewer() const = 0;
  virtual const CaService* ca() const = 0;
  virtual const discovery::Discovery* discovery() const = 0;
  virtual const std::deque<ListenerAuth>& listener_auth() const = 0;  // per listener, in config order
  virtual const std::deque<ListenerGroup>& listener_groups() const = 0;  // the workers' listeners
  virtual const std::vector<std::unique_ptr<webpush::PushServer>>& push_servers() const = 0;
  virtual boost::asio::awaitable<nlohmann::json> describe_streams() = 0;  // asks each worker on its thread
  virtual boost::asio::awaitable<nlohmann::json> describe_nodes() = 0;
  virtual nlohmann::json describe_listeners() const = 0;

 protected:
  ~AdminView() = default;
};

}  // namespace ugate

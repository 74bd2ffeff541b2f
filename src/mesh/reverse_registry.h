#pragma once
// The nodes that keep a reverse connection open to this gateway (ALPN h2r on
// the mesh port): shared by the workers, since a connection lives on the
// worker that accepted it while streams to the node start on any worker.
// Touched when a node registers or leaves, and by dials to registered nodes.
#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/meta.h"

namespace ugate {

class Mesh;

class ReverseRegistry {
 public:
  struct Entry {
    uint64_t serial = 0;  // this registration (a node that reconnects gets a new one)
    std::string node_id, spiffe_id, name;  // name: the SPIFFE ID's service account
    TcpEndpoint peer;     // where its connection comes from (its NAT's address)
    Mesh* owner = nullptr;  // the worker's mesh that holds the connection
    std::chrono::system_clock::time_point since;
  };

  // Returns the registration's serial.
  uint64_t add(Entry e);
  void remove(uint64_t serial);
  // The newest registration of a node named by node ID, SPIFFE ID or name.
  std::optional<Entry> find(std::string_view key) const;
  bool empty() const { return count_.load(std::memory_order_relaxed) == 0; }
  nlohmann::json describe() const;

 private:
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
  uint64_t next_ = 1;
  std::atomic<size_t> count_{0};
};

}  // namespace ugate

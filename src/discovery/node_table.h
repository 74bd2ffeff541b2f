#pragma once
// The nodes discovery heard from on the local links, with a time to live,
// and what it remembers to refuse replays. Pure data: the caller verified
// each announce's certificate and signature and passes the times in.
//
// Replays: an announce is taken only when its (timestamp, sequence) is
// newer than the last one taken from the same node, and when its timestamp
// is within max_skew of our clock. So a recorded announce replayed later is
// refused either as not newer (while we remember the node) or as stale; the
// memory of a node outlives its table entry until its last timestamp is
// itself stale.
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/duration.h"
#include "base/meta.h"

namespace ugate::discovery {

using Clock = std::chrono::steady_clock;

struct DiscoveredNode {
  std::string node_id;
  std::string spiffe_id;
  std::vector<boost::asio::ip::address> addresses;  // as announced (signed)
  boost::asio::ip::address source;                  // where the last announce came from
  unsigned scope_id = 0;                            // its interface (IPv6 link-local addresses)
  uint16_t mesh_port = 0;
  uint64_t timestamp_ms = 0;
  uint32_t sequence = 0;
  Clock::time_point first_seen{}, last_seen{};

  // Where to reach its mesh port: the source address when the node announced
  // it (the path the announce took), else its first announced address; none
  // without a mesh port.
  std::optional<TcpEndpoint> mesh_endpoint() const;
};

class NodeTable {
 public:
  enum class Verdict : uint8_t {
    kNew,       // first announce from this node (or after it expired)
    kRefreshed, // a newer announce from a node in the table
    kDuplicate, // the last one taken from this node, again (it came by IPv4 and IPv6)
    kReplayed,  // older than the last one taken from this node
    kStale,     // timestamp further than max_skew from our clock
    kFull,      // the table holds max_nodes and this node is not one of them
  };

  NodeTable(Duration ttl, Duration max_skew, size_t max_nodes);

  // Is an announce with this timestamp fresh enough to look at (before the
  // expensive checks)?
  bool fresh(uint64_t timestamp_ms, uint64_t now_ms) const;
  // Takes a verified announce, or says why not.
  Verdict offer(DiscoveredNode node, uint64_t now_ms, Clock::time_point now);
  // Drops nodes not heard from for ttl (and replay marks that are stale);
  // the IDs of the nodes dropped.
  std::vector<std::string> expire(uint64_t now_ms, Clock::time_point now);

  const std::map<std::string, DiscoveredNode>& nodes() const { return nodes_; }
  const DiscoveredNode* find(const std::string& node_id) const;
  Duration ttl() const { return ttl_; }

 private:
  struct Mark {
    uint64_t timestamp_ms;
    uint32_t sequence;
  };
  Duration ttl_, max_skew_;
  size_t max_nodes_;
  std::map<std::string, DiscoveredNode> nodes_;
  std::map<std::string, Mark> marks_;  // the newest announce taken per node
};

std::string_view to_string(NodeTable::Verdict v);

}  // namespace ugate::discovery

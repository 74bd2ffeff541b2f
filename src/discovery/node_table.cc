#include "discovery/node_table.h"

#include <algorithm>

namespace ugate::discovery {

namespace {
bool link_local(const boost::asio::ip::address& a) { return a.is_v6() && a.to_v6().is_link_local(); }
}  // namespace

std::optional<TcpEndpoint> DiscoveredNode::mesh_endpoint() const {
  if (mesh_port == 0 || addresses.empty()) return std::nullopt;
  boost::asio::ip::address addr = addresses.front();
  if (std::find(addresses.begin(), addresses.end(), source) != addresses.end()) addr = source;
  if (addr.is_v6() && addr.to_v6().is_link_local()) {
    auto v6 = addr.to_v6();
    v6.scope_id(scope_id);
    addr = v6;
  }
  return TcpEndpoint(addr, mesh_port);
}

std::string_view to_string(NodeTable::Verdict v) {
  switch (v) {
    case NodeTable::Verdict::kNew: return "new";
    case NodeTable::Verdict::kRefreshed: return "refreshed";
    case NodeTable::Verdict::kDuplicate: return "duplicate";
    case NodeTable::Verdict::kReplayed: return "replayed";
    case NodeTable::Verdict::kStale: return "stale";
    case NodeTable::Verdict::kFull: return "table_full";
  }
  return "unknown";
}

NodeTable::NodeTable(Duration ttl, Duration max_skew, size_t max_nodes)
    : ttl_(ttl), max_skew_(max_skew), max_nodes_(max_nodes) {}

bool NodeTable::fresh(uint64_t ts, uint64_t now_ms) const {
  uint64_t skew = static_cast<uint64_t>(max_skew_.count());
  return ts + skew >= now_ms && ts <= now_ms + skew;
}

NodeTable::Verdict NodeTable::offer(DiscoveredNode node, uint64_t now_ms, Clock::time_point now) {
  if (!fresh(node.timestamp_ms, now_ms)) return Verdict::kStale;
  auto mark = marks_.find(node.node_id);
  if (mark != marks_.end()) {
    const Mark& m = mark->second;
    // A node signs one announce per (timestamp, sequence): the same pair is the same announce.
    if (node.timestamp_ms == m.timestamp_ms && node.sequence == m.sequence) {
      // The copy that came by the other family: its path is the better one to
      // dial when the first came over an IPv6 link-local address (which one
      // arrives first is chance).
      auto known = nodes_.find(node.node_id);
      if (known == nodes_.end() || !link_local(known->second.source) || link_local(node.source))
        return Verdict::kDuplicate;
      known->second.source = node.source;
      known->second.scope_id = node.scope_id;
      return Verdict::kRefreshed;
    }
    bool newer = node.timestamp_ms > m.timestamp_ms ||
                 (node.timestamp_ms == m.timestamp_ms && node.sequence > m.sequence);
    if (!newer) return Verdict::kReplayed;
  }
  auto it = nodes_.find(node.node_id);
  if (it == nodes_.end() && nodes_.size() >= max_nodes_) return Verdict::kFull;
  if (mark == marks_.end() && marks_.size() >= 2 * max_nodes_) {
    // Marks of nodes no longer in the table: the oldest one goes.
    auto oldest = marks_.end();
    for (auto m = marks_.begin(); m != marks_.end(); ++m) {
      if (nodes_.count(m->first)) continue;
      if (oldest == marks_.end() || m->second.timestamp_ms < oldest->second.timestamp_ms) oldest = m;
    }
    if (oldest == marks_.end()) return Verdict::kFull;
    marks_.erase(oldest);
  }
  marks_[node.node_id] = Mark{node.timestamp_ms, node.sequence};
  node.last_seen = now;
  if (it != nodes_.end()) {
    node.first_seen = it->second.first_seen;
    it->second = std::move(node);
    return Verdict::kRefreshed;
  }
  node.first_seen = now;
  std::string id = node.node_id;
  nodes_.emplace(std::move(id), std::move(node));
  return Verdict::kNew;
}

std::vector<std::string> NodeTable::expire(uint64_t now_ms, Clock::time_point now) {
  std::vector<std::string> dropped;
  std::erase_if(nodes_, [&](const auto& kv) {
    bool gone = now - kv.second.last_seen >= ttl_;
    if (gone) dropped.push_back(kv.first);
    return gone;
  });
  std::erase_if(marks_, [&](const auto& kv) {
    return !nodes_.count(kv.first) && kv.second.timestamp_ms + static_cast<uint64_t>(max_skew_.count()) < now_ms;
  });
  return dropped;
}

const DiscoveredNode* NodeTable::find(const std::string& node_id) const {
  auto it = nodes_.find(node_id);
  return it == nodes_.end() ? nullptr : &it->second;
}

}  // namespace ugate::discovery

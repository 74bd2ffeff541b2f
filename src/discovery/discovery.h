#pragma once
// Local discovery: every `interval` the node multicasts a signed announce
// (announce.h) on its links, FF02::5227 and 224.0.0.250, and listens for
// the others'. An announce counts only when its certificate chain leads to
// our trust roots (same trust domain), its signature verifies with that
// certificate's key, its timestamp is within max_clock_skew of our clock and
// it is newer than the last one from that node (node_table.h); everything
// else is ignored and counted by reason. Nodes not heard from for `ttl` are
// dropped.
//
// Runs on the control thread (admin, signals), apart from the data plane.
// Workers read the table as an immutable snapshot (neighbours()), swapped
// whole when it changes: the mesh then dials a discovered node directly.
#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>

#include "identity/peer_chain.h"
#include "discovery/discovery_config.h"
#include "base/stats.h"
#include "discovery/announce.h"
#include "discovery/interfaces.h"
#include "discovery/node_table.h"

namespace ugate {
class MeshIdentity;
}

namespace ugate::discovery {

namespace asio = boost::asio;
using boost::system::error_code;

// What became of a received datagram.
enum class Heard : uint8_t {
  kAccepted,      // a node announced itself (new or refreshed)
  kOwn,           // our own announce, looped back
  kDuplicate,     // the announce we took last from that node, again (sent on IPv4 and IPv6)
  kReplayed,      // signed, but older than what we have from that node
  kStale,         // timestamp too far from our clock
  kBadSignature,  // the signature does not verify with the certificate's key (forged or altered)
  kUntrusted,     // the certificate does not lead to our roots, or names another trust domain
  kMalformed,     // not an announce, or a broken one
  kRateLimited,   // more announces to verify than we check per second
  kTableFull,     // the node table is full
  kCount
};
std::string_view to_string(Heard h);

struct DiscoveryStats {
  Counter sent;
  Counter send_errors;
  std::array<Counter, static_cast<size_t>(Heard::kCount)> received;
};

// A discovered node as the data plane sees it.
struct Neighbour {
  std::string spiffe_id;
  TcpEndpoint mesh;  // its mesh port, by the address the announce came from
};
using Neighbours = std::unordered_map<std::string, Neighbour>;  // by node ID

class Discovery {
 public:
  static constexpr size_t kMaxNodes = 1024;
  static constexpr unsigned kVerifiesPerSecond = 200;  // certificate + signature checks
  static constexpr size_t kCacheMax = 256;             // verified chains remembered

  // `mesh` is where the node's mesh port listens (an unspecified address:
  // every interface's); port 0 when it has none.
  Discovery(asio::io_context& control, const DiscoveryConfig& config, const MeshIdentity& identity,
            TcpEndpoint mesh);
  ~Discovery();

  // Opens the sockets (StartError when the port cannot be bound) and starts
  // announcing and listening.
  void start();
  void stop();

  // Any thread: the live nodes, swapped whole when the table changes.
  std::shared_ptr<const Neighbours> neighbours() const { return neighbours_.load(std::memory_order_acquire); }
  // Control thread: for /debug/nodes.
  nlohmann::json describe() const;
  const DiscoveryStats& stats() const { return stats_; }
  size_t size() const { return table_.nodes().size(); }
  uint16_t port() const;  // the bound UDP port

  // One received datagram (public for tests): what became of it.
  Heard handle(std::span<const uint8_t> datagram, const asio::ip::udp::endpoint& from);

 private:
  asio::awaitable<void> announce_loop();
  asio::awaitable<void> receive_loop(asio::ip::udp::socket& socket);
  void refresh_interfaces();
  void announce();
  void publish();
  void expire();
  void announce_soon();
  void refresh_identity();
  std::optional<VerifiedPeer> verified(const std::vector<Bytes>& chain, std::string& why);
  void note(Heard h, const std::string& from, const std::string& detail);

  asio::io_context& io_;
  DiscoveryConfig config_;
  const MeshIdentity& identity_;
  TcpEndpoint mesh_;
  std::optional<asio::ip::udp::socket> v4_, v6_;
  asio::steady_timer timer_;
  asio::steady_timer soon_;
  std::minstd_rand rng_;  // jitter
  std::vector<Interface> interfaces_;
  std::set<std::pair<unsigned, bool>> joined_;  // (interface index, v6)
  NodeTable table_;
  std::shared_ptr<const void> roots_of_;  // the identity whose roots verifier_ holds
  std::optional<ChainVerifier> verifier_;
  std::string trust_domain_;
  std::unordered_map<std::string, VerifiedPeer> cache_;  // by the chain's DER bytes
  Bytes own_leaf_;
  uint32_t sequence_ = 0;
  uint64_t budget_second_ = 0;
  unsigned budget_used_ = 0;
  bool soon_pending_ = false;
  bool stopped_ = false;
  std::array<bool, static_cast<size_t>(Heard::kCount)> warned_{};
  std::atomic<std::shared_ptr<const Neighbours>> neighbours_;
  DiscoveryStats stats_;
};

}  // namespace ugate::discovery

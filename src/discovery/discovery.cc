#include "discovery/discovery.h"
#include "runtime/socket_protect.h"

#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/multicast.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include "runtime/spawn.h"
#include "identity/mesh_identity.h"
#include "crypto/p256.h"

namespace ugate::discovery {
namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
using udp = asio::ip::udp;

uint64_t wall_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string join_addresses(const std::vector<asio::ip::address>& addrs) {
  std::string out;
  for (const auto& a : addrs) out += (out.empty() ? "" : ",") + a.to_string();
  return out;
}

Bytes chain_key_bytes(const std::vector<Bytes>& chain) {
  Bytes key;
  for (const Bytes& c : chain) key.insert(key.end(), c.begin(), c.end());
  return key;
}

}  // namespace

std::string_view to_string(Heard h) {
  switch (h) {
    case Heard::kAccepted: return "accepted";
    case Heard::kOwn: return "own";
    case Heard::kDuplicate: return "duplicate";
    case Heard::kReplayed: return "replayed";
    case Heard::kStale: return "stale";
    case Heard::kBadSignature: return "bad_signature";
    case Heard::kUntrusted: return "untrusted";
    case Heard::kMalformed: return "malformed";
    case Heard::kRateLimited: return "rate_limited";
    case Heard::kTableFull: return "table_full";
    case Heard::kCount: break;
  }
  return "unknown";
}

Discovery::Discovery(asio::io_context& control, const DiscoveryConfig& config, const MeshIdentity& identity,
                     TcpEndpoint mesh)
    : io_(control), config_(config), identity_(identity), mesh_(mesh), timer_(control), soon_(control),
      rng_(std::random_device{}()),
      table_(config.ttl, config.max_clock_skew, kMaxNodes), neighbours_(std::make_shared<const Neighbours>()) {}

Discovery::~Discovery() { stop(); }

uint16_t Discovery::port() const {
  error_code ec;
  if (v4_) return v4_->local_endpoint(ec).port();
  if (v6_) return v6_->local_endpoint(ec).port();
  return 0;
}

void Discovery::start() {
  // Several nodes on one host share the port (SO_REUSEADDR): each gets every announce.
  auto open = [this](std::optional<udp::socket>& s, udp protocol, const asio::ip::address& any) -> error_code {
    error_code ec;
    s.emplace(io_);
    s->open(protocol, ec);
    if (!ec && !protect_socket(s->native_handle())) ec = asio::error::access_denied;
    if (!ec && protocol == udp::v6()) s->set_option(asio::ip::v6_only(true), ec);
    if (!ec) s->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) s->set_option(asio::ip::multicast::hops(1), ec);
    if (!ec) s->set_option(asio::ip::multicast::enable_loopback(true), ec);  // nodes on this host
    if (!ec) s->bind(udp::endpoint(any, config_.port), ec);
    if (ec) s.reset();
    return ec;
  };
  error_code e4 = open(v4_, udp::v4(), asio::ip::address_v4::any());
  error_code e6 = open(v6_, udp::v6(), asio::ip::address_v6::any());
  if (!v4_ && !v6_)
    throw std::runtime_error("discovery: cannot bind UDP port " + std::to_string(config_.port) + ": " + e4.message());
  if (!v6_) spdlog::warn("discovery: IPv6 unavailable ({}); announcing on IPv4 only", e6.message());
  if (!v4_) spdlog::warn("discovery: IPv4 unavailable ({}); announcing on IPv6 only", e4.message());
  refresh_identity();
  spdlog::info("discovery: announcing every {} on UDP {} ({} and {}), nodes kept {}", format_duration(config_.interval),
               port(), kGroupV4, kGroupV6, format_duration(config_.ttl));
  spawn(io_.get_executor(), announce_loop(), "discovery announce loop");
  if (v4_) spawn(io_.get_executor(), receive_loop(*v4_), "discovery receive loop (IPv4)");
  if (v6_) spawn(io_.get_executor(), receive_loop(*v6_), "discovery receive loop (IPv6)");
}

void Discovery::stop() {
  if (std::exchange(stopped_, true)) return;
  timer_.cancel();
  soon_.cancel();
  error_code ignored;
  if (v4_) v4_->close(ignored);
  if (v6_) v6_->close(ignored);
}

asio::awaitable<void> Discovery::announce_loop() {
  while (!stopped_) {
    refresh_interfaces();
    expire();
    announce();
    // A little jitter keeps the nodes of a link from announcing in step.
    auto base = config_.interval.count();
    std::uniform_int_distribution<int64_t> jitter(-base / 10, base / 10);
    timer_.expires_after(Duration(base + jitter(rng_)));
    co_await timer_.async_wait(use_nothrow);
  }
}

asio::awaitable<void> Discovery::receive_loop(udp::socket& socket) {
  std::vector<uint8_t> buf(kMaxAnnounce + 1);  // one byte more: a longer datagram shows as too long
  while (!stopped_) {
    udp::endpoint from;
    auto [ec, n] = co_await socket.async_receive_from(asio::buffer(buf), from, use_nothrow);
    if (stopped_ || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) break;
    if (ec) continue;  // an ICMP error from an earlier send, say: not ours to act on
    handle(std::span(buf.data(), n), from);
  }
}

// New interfaces (or ones that came back) join the groups; gone ones are forgotten.
void Discovery::refresh_interfaces() {
  interfaces_ = list_interfaces(config_.interfaces);
  std::set<std::pair<unsigned, bool>> present;
  for (const Interface& i : interfaces_) {
    for (bool v6 : {false, true}) {
      if (!(v6 ? i.has_v6() : i.has_v4()) || !(v6 ? v6_ : v4_)) continue;
      present.emplace(i.index, v6);
      if (joined_.count({i.index, v6})) continue;
      int rc;
      if (v6) {
        ipv6_mreq m{};
        auto group = asio::ip::make_address_v6(kGroupV6).to_bytes();
        std::memcpy(&m.ipv6mr_multiaddr, group.data(), 16);
        m.ipv6mr_interface = i.index;
        rc = ::setsockopt(v6_->native_handle(), IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &m, sizeof m);
      } else {
        ip_mreqn m{};
        auto group = asio::ip::make_address_v4(kGroupV4).to_bytes();
        std::memcpy(&m.imr_multiaddr, group.data(), 4);
        m.imr_ifindex = static_cast<int>(i.index);
        rc = ::setsockopt(v4_->native_handle(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m);
      }
      if (rc == 0 || errno == EADDRINUSE) {
        joined_.emplace(i.index, v6);
        spdlog::debug("discovery: listening on {} ({})", i.name, v6 ? kGroupV6 : kGroupV4);
      } else {
        spdlog::warn("discovery: cannot join {} on {}: {}", v6 ? kGroupV6 : kGroupV4, i.name, std::strerror(errno));
      }
    }
  }
  std::erase_if(joined_, [&](const auto& j) { return !present.count(j); });
}

void Discovery::refresh_identity() {
  auto state = identity_.state();
  if (state->id.get() == roots_of_.get()) return;
  // New (or renewed): the roots may have changed, and our own certificate has.
  roots_of_ = state->id;
  verifier_.emplace(state->id->roots);
  trust_domain_ = state->id->trust_domain;
  own_leaf_ = to_der(state->id->chain[0].get());
  cache_.clear();
}

void Discovery::announce() {
  refresh_identity();
  auto state = identity_.state();
  const NodeIdentity& id = *state->id;
  Announce a;
  a.timestamp_ms = wall_ms();
  a.sequence = ++sequence_;
  a.mesh_port = mesh_.port();
  const auto& bind = mesh_.address();
  if (!bind.is_unspecified()) {
    a.addresses.push_back(bind);
  } else {
    for (const Interface& i : interfaces_)
      for (const auto& addr : i.addresses)
        if (addr.is_v4() || bind.is_v6()) a.addresses.push_back(addr);  // [::] is dual-stack
  }
  if (a.addresses.size() > kMaxAddresses) a.addresses.resize(kMaxAddresses);
  for (size_t i = 0; i < id.chain.size() && i < kMaxCerts; ++i) a.chain.push_back(to_der(id.chain[i].get()));
  Bytes datagram = encode_unsigned(a);
  auto sig = crypto::es256_sign(id.key.get(), datagram);
  if (!sig) {
    stats_.send_errors.add();
    return;
  }
  datagram.insert(datagram.end(), sig->begin(), sig->end());

  for (const Interface& i : interfaces_) {
    for (bool v6 : {false, true}) {
      std::optional<udp::socket>& s = v6 ? v6_ : v4_;
      if (!s || !(v6 ? i.has_v6() : i.has_v4())) continue;
      int rc;
      udp::endpoint to;
      if (v6) {
        int index = static_cast<int>(i.index);
        rc = ::setsockopt(s->native_handle(), IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof index);
        to = udp::endpoint(asio::ip::make_address_v6(kGroupV6), config_.port);
      } else {
        ip_mreqn m{};
        m.imr_ifindex = static_cast<int>(i.index);
        rc = ::setsockopt(s->native_handle(), IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m);
        to = udp::endpoint(asio::ip::make_address_v4(kGroupV4), config_.port);
      }
      error_code ec;
      if (rc == 0) s->send_to(asio::buffer(datagram), to, 0, ec);
      if (rc != 0 || ec) {
        stats_.send_errors.add();
        spdlog::debug("discovery: announce on {} failed: {}", i.name, rc != 0 ? std::strerror(errno) : ec.message());
      } else {
        stats_.sent.add();
      }
    }
  }
}

// A new node may not have heard us yet: answer with an announce of our own
// soon (at most once a second) rather than at the next interval.
void Discovery::announce_soon() {
  if (soon_pending_ || stopped_) return;
  soon_pending_ = true;
  soon_.expires_after(std::chrono::milliseconds(50 + rng_() % 200));
  soon_.async_wait([this](const error_code& ec) {
    if (ec) return;
    announce();
    soon_.expires_after(std::chrono::seconds(1));
    soon_.async_wait([this](const error_code& ec2) {
      if (!ec2) soon_pending_ = false;
    });
  });
}

std::optional<VerifiedPeer> Discovery::verified(const std::vector<Bytes>& chain, std::string& why) {
  Bytes key_bytes = chain_key_bytes(chain);
  std::string key(key_bytes.begin(), key_bytes.end());
  auto copy = [](const VerifiedPeer& p) {
    VerifiedPeer out{nullptr, p.spiffe_id, p.trust_domain, p.node_id, p.not_after};
    EVP_PKEY_up_ref(p.key.get());
    out.key.reset(p.key.get());
    return out;
  };
  auto now = std::chrono::system_clock::now();
  if (auto it = cache_.find(key); it != cache_.end()) {
    if (it->second.not_after > now) return copy(it->second);
    cache_.erase(it);
  }
  auto result = verifier_->verify(chain);
  if (!result) {
    why = ugate::to_string(result.error());
    return std::nullopt;
  }
  if (result->trust_domain != trust_domain_) {
    why = "another trust domain (" + result->spiffe_id + ")";
    return std::nullopt;
  }
  if (cache_.size() >= kCacheMax) cache_.clear();
  VerifiedPeer out = copy(*result);
  cache_.emplace(std::move(key), std::move(*result));
  return out;
}

Heard Discovery::handle(std::span<const uint8_t> datagram, const udp::endpoint& from) {
  const std::string source = from.address().to_string();
  auto parsed = parse_announce(datagram);
  if (!parsed) {
    note(Heard::kMalformed, source, std::string(discovery::to_string(parsed.error())));
    return Heard::kMalformed;
  }
  const Announce& a = parsed->announce;
  refresh_identity();
  if (a.chain.front() == own_leaf_) {  // ours, looped back (nodes on one host hear each other so)
    stats_.received[static_cast<size_t>(Heard::kOwn)].add();
    return Heard::kOwn;
  }
  uint64_t now_ms = wall_ms();
  if (!table_.fresh(a.timestamp_ms, now_ms)) {
    note(Heard::kStale, source, fmt::format("timestamp {} ms from our clock", static_cast<int64_t>(a.timestamp_ms - now_ms)));
    return Heard::kStale;
  }
  // Certificates and signatures cost CPU: a flood gets a bounded share.
  uint64_t second = now_ms / 1000;
  if (second != budget_second_) budget_second_ = second, budget_used_ = 0;
  if (++budget_used_ > kVerifiesPerSecond) {
    note(Heard::kRateLimited, source, "more announces than are verified per second");
    return Heard::kRateLimited;
  }
  std::string why;
  auto peer = verified(a.chain, why);
  if (!peer) {
    note(Heard::kUntrusted, source, why);
    return Heard::kUntrusted;
  }
  if (!crypto::es256_verify(peer->key.get(), parsed->signed_part, parsed->signature)) {
    note(Heard::kBadSignature, source, "signature does not verify (node " + peer->node_id + ")");
    return Heard::kBadSignature;
  }
  DiscoveredNode node;
  node.node_id = peer->node_id;
  node.spiffe_id = peer->spiffe_id;
  node.addresses = a.addresses;
  node.source = from.address().is_v6() && from.address().to_v6().is_v4_mapped()
                    ? asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, from.address().to_v6()))
                    : from.address();
  if (node.source.is_v6()) {
    node.scope_id = node.source.to_v6().scope_id();
    auto plain = node.source.to_v6();
    plain.scope_id(0);  // compared with announced addresses, which carry none
    node.source = plain;
  }
  node.mesh_port = a.mesh_port;
  node.timestamp_ms = a.timestamp_ms;
  node.sequence = a.sequence;
  std::optional<TcpEndpoint> before;
  if (const DiscoveredNode* old = table_.find(node.node_id)) before = old->mesh_endpoint();
  auto verdict = table_.offer(std::move(node), now_ms, Clock::now());
  switch (verdict) {
    case NodeTable::Verdict::kNew:
    case NodeTable::Verdict::kRefreshed: {
      const DiscoveredNode& n = *table_.find(peer->node_id);
      if (verdict == NodeTable::Verdict::kNew) {
        auto ep = n.mesh_endpoint();
        spdlog::info("discovery: found node {} ({}) at {}, mesh port {}", n.node_id, n.spiffe_id,
                     join_addresses(n.addresses), ep ? format_endpoint(*ep) : "none");
        announce_soon();
      }
      if (verdict == NodeTable::Verdict::kNew || n.mesh_endpoint() != before) publish();
      stats_.received[static_cast<size_t>(Heard::kAccepted)].add();
      return Heard::kAccepted;
    }
    case NodeTable::Verdict::kDuplicate:
      stats_.received[static_cast<size_t>(Heard::kDuplicate)].add();  // not an attack: not logged
      return Heard::kDuplicate;
    case NodeTable::Verdict::kReplayed:
      note(Heard::kReplayed, source, "older than the last announce of node " + peer->node_id);
      return Heard::kReplayed;
    case NodeTable::Verdict::kStale:
      note(Heard::kStale, source, "timestamp too far from our clock");
      return Heard::kStale;
    case NodeTable::Verdict::kFull:
      note(Heard::kTableFull, source, "node table full");
      return Heard::kTableFull;
  }
  return Heard::kMalformed;
}

void Discovery::note(Heard h, const std::string& from, const std::string& detail) {
  stats_.received[static_cast<size_t>(h)].add();
  bool first = !std::exchange(warned_[static_cast<size_t>(h)], true);
  spdlog::log(first ? spdlog::level::warn : spdlog::level::debug,
              "discovery: ignored an announce from {}: {} (counted in "
              "ugate_discovery_announces_received_total{{result=\"{}\"}}{})",
              from, detail, to_string(h), first ? "; more are logged at debug level" : "");
}

void Discovery::expire() {
  auto dropped = table_.expire(wall_ms(), Clock::now());
  for (const auto& id : dropped)
    spdlog::info("discovery: lost node {} (no announce for {})", id, format_duration(config_.ttl));
  if (!dropped.empty()) publish();
}

void Discovery::publish() {
  auto next = std::make_shared<Neighbours>();
  for (const auto& [id, n] : table_.nodes())
    if (auto ep = n.mesh_endpoint()) next->emplace(id, Neighbour{n.spiffe_id, *ep});
  neighbours_.store(std::move(next), std::memory_order_release);
}

nlohmann::json Discovery::describe() const {
  nlohmann::json out = nlohmann::json::array();
  auto now = Clock::now();
  auto ms = [](Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  for (const auto& [id, n] : table_.nodes()) {
    nlohmann::json addrs = nlohmann::json::array();
    for (const auto& a : n.addresses) addrs.push_back(a.to_string());
    auto ep = n.mesh_endpoint();
    out.push_back({{"node_id", id},
                   {"spiffe_id", n.spiffe_id},
                   {"addresses", addrs},
                   {"source", n.source.to_string()},
                   {"mesh", ep ? format_endpoint(*ep) : ""},
                   {"sequence", n.sequence},
                   {"since_ms", ms(now - n.first_seen)},
                   {"last_seen_ms", ms(now - n.last_seen)}});
  }
  return out;
}

}  // namespace ugate::discovery

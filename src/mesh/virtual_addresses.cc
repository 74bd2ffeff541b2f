#include "mesh/virtual_addresses.h"

#include <algorithm>
#include <set>

namespace ugate {
namespace {

// FNV-1a, 64 bits: fixed by its definition, so the addresses do not change
// with a library's version.
uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });  // (a query's label may hold any byte: tolower of a negative char is undefined)
}

// Host numbers in a range: at most 2^63 (an IPv6 range narrower than /65 is treated as /65).
uint64_t host_count(const Cidr& r) {
  unsigned bits = (r.network.is_v4() ? 32u : 128u) - r.prefix;
  return bits >= 63 ? (uint64_t{1} << 63) : (uint64_t{1} << bits);
}

// The address `host` numbers within the range (low bits set into the network's).
boost::asio::ip::address at(const Cidr& r, uint64_t host) {
  if (r.network.is_v4()) return boost::asio::ip::address_v4(r.network.to_v4().to_uint() | static_cast<uint32_t>(host));
  auto b = r.network.to_v6().to_bytes();
  for (int i = 15; i >= 8; --i, host >>= 8) b[static_cast<size_t>(i)] |= static_cast<uint8_t>(host);
  return boost::asio::ip::address_v6(b);
}

// Host numbers from the hash, the first free one after a collision; the
// network's and the broadcast's own numbers (0 and all ones) are skipped.
std::optional<boost::asio::ip::address> assign(const Cidr& r, uint64_t hash, std::set<uint64_t>& taken) {
  uint64_t count = host_count(r);
  if (count < 4 || taken.size() + 2 >= count) return std::nullopt;
  uint64_t host = hash % count;
  for (;;) {
    if (host != 0 && host != count - 1 && taken.insert(host).second) return at(r, host);
    host = (host + 1) % count;
  }
}

}  // namespace

VirtualAddresses::VirtualAddresses(const std::vector<NodeConfig>& nodes, const Cidr& ipv4_range, const Cidr& ipv6_range)
    : v4_range_(ipv4_range), v6_range_(ipv6_range) {
  for (const auto& n : nodes) nodes_.push_back({n.name, n.id, std::nullopt, std::nullopt});
  auto identity = [](const VirtualNode& n) { return n.id.empty() ? n.name : n.id; };
  std::sort(nodes_.begin(), nodes_.end(), [&](const auto& a, const auto& b) { return identity(a) < identity(b); });
  std::set<uint64_t> taken4, taken6;
  for (auto& n : nodes_) {
    uint64_t h = fnv1a(identity(n));
    if (auto a = assign(v4_range_, h, taken4)) n.v4 = a->to_v4();
    if (auto a = assign(v6_range_, h, taken6)) n.v6 = a->to_v6();
  }
}

const VirtualNode* VirtualAddresses::find(std::string_view label) const {
  for (const auto& n : nodes_)
    if (iequals(n.name, label) || (!n.id.empty() && iequals(n.id, label))) return &n;
  return nullptr;
}

const VirtualNode* VirtualAddresses::by_address(const boost::asio::ip::address& a) const {
  boost::asio::ip::address ip = a;
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) ip = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, ip.to_v6());
  if (!v4_range_.contains(ip) && !v6_range_.contains(ip)) return nullptr;  // most captured connections: no scan
  for (const auto& n : nodes_)
    if ((ip.is_v4() && n.v4 == ip.to_v4()) || (ip.is_v6() && n.v6 == ip.to_v6())) return &n;
  return nullptr;
}

}  // namespace ugate

#include "stun/allocation.h"

#include <algorithm>
#include <functional>
#include <string_view>

namespace ugate::stun {

size_t ClientKeyHash::operator()(const ClientKey& k) const {
  std::string_view ip(reinterpret_cast<const char*>(k.source.ip.data()), k.source.ip_size());
  return std::hash<std::string_view>()(ip) ^ (size_t{k.source.port} << 1 | static_cast<size_t>(k.transport));
}

bool TokenBucket::take(size_t n, uint64_t now_ms) {
  if (rate_ == 0) return true;
  if (now_ms > last_ms_) {
    // At most a second's worth: the first take() comes after a last_ms_ of 0, and uptime times a
    // high rate would overflow.
    tokens_ = std::min(rate_, tokens_ + std::min<uint64_t>(now_ms - last_ms_, 1000) * rate_ / 1000);
    last_ms_ = now_ms;
  }
  if (n > tokens_) return false;
  tokens_ -= n;
  return true;
}

Address ip_only(Address a) {
  a.port = 0;
  return a;
}

bool Allocation::permitted(const Address& peer, uint64_t now_ms) const {
  Address ip = ip_only(peer);
  return std::any_of(permissions.begin(), permissions.end(),
                     [&](const Permission& p) { return p.ip == ip && p.expires_ms > now_ms; });
}

bool Allocation::new_permission(const Address& peer) const {
  Address ip = ip_only(peer);
  return std::none_of(permissions.begin(), permissions.end(), [&](const Permission& p) { return p.ip == ip; });
}

bool Allocation::permit(const Address& peer, uint64_t now_ms) {
  Address ip = ip_only(peer);
  for (auto& p : permissions)
    if (p.ip == ip) {
      p.expires_ms = now_ms + kPermissionLifetimeMs;
      return false;
    }
  permissions.push_back({ip, now_ms + kPermissionLifetimeMs});
  return true;
}

const Channel* Allocation::channel(uint16_t number, uint64_t now_ms) const {
  for (const auto& c : channels)
    if (c.number == number && c.expires_ms > now_ms) return &c;
  return nullptr;
}

const Channel* Allocation::channel_to(const Address& peer, uint64_t now_ms) const {
  for (const auto& c : channels)
    if (c.peer == peer && c.expires_ms > now_ms) return &c;
  return nullptr;
}

BindCheck Allocation::can_bind(uint16_t number, const Address& peer, uint64_t now_ms) const {
  if (number < kFirstChannel || number > kLastChannel) return BindCheck::kBadNumber;
  if (const Channel* c = channel(number, now_ms); c && !(c->peer == peer)) return BindCheck::kNumberTaken;
  if (const Channel* c = channel_to(peer, now_ms); c && c->number != number) return BindCheck::kPeerTaken;
  return BindCheck::kOk;
}

bool Allocation::bind(uint16_t number, const Address& peer, uint64_t now_ms) {
  for (auto& c : channels)
    if (c.number == number) {
      c.peer = peer;
      c.expires_ms = now_ms + kChannelLifetimeMs;
      return false;
    }
  channels.push_back({number, peer, now_ms + kChannelLifetimeMs});
  return true;
}

std::pair<size_t, size_t> Allocation::expire(uint64_t now_ms) {
  size_t p = std::erase_if(permissions, [&](const Permission& x) { return x.expires_ms <= now_ms; });
  size_t c = std::erase_if(channels, [&](const Channel& x) { return x.expires_ms <= now_ms; });
  return {p, c};
}

}  // namespace ugate::stun

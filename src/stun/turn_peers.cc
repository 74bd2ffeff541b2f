#include "stun/turn_peers.h"

#include <algorithm>

namespace ugate::stun {

const std::vector<Cidr>& default_denied_peers() {
  static const std::vector<Cidr> ranges = [] {
    std::vector<Cidr> out;
    for (const char* c : {"0.0.0.0/8", "10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
                          "224.0.0.0/4", "255.255.255.255", "::/128", "::1", "fc00::/7", "fe80::/10", "ff00::/8"})
      out.push_back(*parse_cidr(c));
    return out;
  }();
  return ranges;
}

PeerPolicy::PeerPolicy(std::vector<Cidr> allow, std::vector<Cidr> deny, std::vector<boost::asio::ip::address> own)
    : allow_(std::move(allow)), deny_(std::move(deny)), own_(std::move(own)) {}

bool PeerPolicy::allowed(const boost::asio::ip::address& peer) const {
  if (in_any(allow_, peer)) return true;
  if (in_any(deny_, peer) || in_any(default_denied_peers(), peer)) return false;
  return std::none_of(own_.begin(), own_.end(), [&](const auto& a) { return Cidr{a, static_cast<uint8_t>(a.is_v4() ? 32 : 128)}.contains(peer); });
}

}  // namespace ugate::stun

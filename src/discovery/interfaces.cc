#include "discovery/interfaces.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace ugate::discovery {

bool Interface::has_v4() const {
  return std::any_of(addresses.begin(), addresses.end(), [](const auto& a) { return a.is_v4(); });
}
bool Interface::has_v6() const {
  return std::any_of(addresses.begin(), addresses.end(), [](const auto& a) { return a.is_v6(); });
}

std::vector<Interface> list_interfaces(const std::vector<std::string>& only) {
  std::vector<Interface> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || !a->ifa_name) continue;
    const unsigned flags = a->ifa_flags;
    bool named = std::find(only.begin(), only.end(), a->ifa_name) != only.end();
    if (!only.empty() ? !named : ((flags & IFF_LOOPBACK) || !(flags & IFF_MULTICAST))) continue;
    if (!(flags & IFF_UP)) continue;
    int family = a->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    auto it = std::find_if(out.begin(), out.end(), [&](const Interface& i) { return i.name == a->ifa_name; });
    if (it == out.end()) {
      out.push_back({a->ifa_name, ::if_nametoindex(a->ifa_name), {}});
      it = out.end() - 1;
    }
    if (family == AF_INET) {
      boost::asio::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr, 4);
      it->addresses.emplace_back(boost::asio::ip::address_v4(b));
    } else {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr);
      boost::asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &sin6->sin6_addr, 16);
      it->addresses.emplace_back(boost::asio::ip::address_v6(b, sin6->sin6_scope_id));
    }
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace ugate::discovery

#include "runtime/original_dst.h"

#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace ugate {
namespace {

constexpr int kIp6tSoOriginalDst = 80;  // IP6T_SO_ORIGINAL_DST (linux/netfilter_ipv6/ip6_tables.h)

boost::system::error_code last_error() { return {errno, boost::system::system_category()}; }

}  // namespace

boost::asio::ip::address unmapped(const boost::asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  return a;
}

TcpEndpoint unmapped(const TcpEndpoint& ep) { return {unmapped(ep.address()), ep.port()}; }

boost::system::error_code original_destination(int fd, bool tproxy, TcpEndpoint& out) {
  TcpEndpoint local;
  socklen_t len = static_cast<socklen_t>(local.capacity());
  if (::getsockname(fd, local.data(), &len) != 0) return last_error();
  local.resize(len);
  if (tproxy) {
    out = unmapped(local);
    return {};
  }
  // IPv4 connections, also on a dual-stack socket, are tracked by the IPv4
  // conntrack: ask it with SOL_IP even when the socket is AF_INET6.
  bool v4 = unmapped(local.address()).is_v4();
  TcpEndpoint orig;
  len = static_cast<socklen_t>(orig.capacity());
  int rc = v4 ? ::getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, orig.data(), &len)
              : ::getsockopt(fd, SOL_IPV6, kIp6tSoOriginalDst, orig.data(), &len);
  if (rc != 0) return last_error();
  orig.resize(len);
  out = unmapped(orig);
  return {};
}

bool is_local_address(const boost::asio::ip::address& addr) {
  auto a = unmapped(addr);
  if (a.is_loopback() || a.is_unspecified()) return true;
  TcpEndpoint probe(a, 0);
  int fd = ::socket(probe.protocol().family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool local = ::bind(fd, probe.data(), static_cast<socklen_t>(probe.size())) == 0;
  ::close(fd);
  return local;
}

}  // namespace ugate

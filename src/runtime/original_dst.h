#pragma once
// Where a captured connection or datagram was going before iptables took it.
// REDIRECT rewrites the destination and conntrack remembers the original
// (SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST); TPROXY leaves the packet alone, so
// the accepted socket's local address is the original destination.
#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>

#include "base/meta.h"

namespace ugate {

// The original destination of the accepted TCP socket `fd`; ENOENT when the
// connection was not redirected and conntrack knows nothing of it.
boost::system::error_code original_destination(int fd, bool tproxy, TcpEndpoint& out);

// ::ffff:a.b.c.d as a.b.c.d (dual-stack sockets see IPv4 peers this way).
boost::asio::ip::address unmapped(const boost::asio::ip::address& a);
TcpEndpoint unmapped(const TcpEndpoint& ep);

// An address of this host: loopback, unspecified, or one that a socket can
// bind (the kernel's own answer, without listing the interfaces).
bool is_local_address(const boost::asio::ip::address& a);

}  // namespace ugate

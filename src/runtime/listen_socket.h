#pragma once
// Listening sockets. With share_port (SO_REUSEPORT) every worker binds its own
// socket to the same address and the kernel spreads connections across them.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <stdexcept>
#include <string>

#include "base/meta.h"

namespace ugate {

namespace asio = boost::asio;

// A listener, or another socket the gate needs, cannot be opened: the process
// cannot start as configured. The message names what, where and a hint.
class StartError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws StartError naming `what`, the address and a hint. `transparent`
// (IP_TRANSPARENT) lets it accept connections TPROXY hands it for addresses
// that are not its own; it needs CAP_NET_ADMIN.
asio::ip::tcp::acceptor open_listen_socket(asio::io_context& ctx, const asio::ip::tcp::endpoint& ep,
                                           const std::string& what, bool share_port, bool transparent = false);

// A worker's UDP socket for a listener (SO_REUSEPORT: the kernel gives each
// client address to one worker). `transparent` also asks for each datagram's
// original destination (IP_RECVORIGDSTADDR), for TPROXY.
asio::ip::udp::socket open_udp_socket(asio::io_context& ctx, const asio::ip::udp::endpoint& ep,
                                      const std::string& what, bool transparent);

// IP_TRANSPARENT or IPV6_TRANSPARENT, by the socket's family.
boost::system::error_code set_transparent(int fd, bool v6);

}  // namespace ugate

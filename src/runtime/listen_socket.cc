#include "runtime/listen_socket.h"
#include "runtime/socket_protect.h"

#include <netinet/in.h>
#include <sys/socket.h>


namespace ugate {
namespace {

using boost::system::error_code;

error_code last_error() { return error_code(errno, boost::system::system_category()); }

error_code set_int(int fd, int level, int name) {
  int one = 1;
  return ::setsockopt(fd, level, name, &one, sizeof one) == 0 ? error_code() : last_error();
}

// Options every listening socket of a worker takes before bind().
error_code prepare(int fd, bool v6, bool share_port, bool transparent) {
  error_code ec = set_int(fd, SOL_SOCKET, SO_REUSEADDR);
  if (!ec && share_port) ec = set_int(fd, SOL_SOCKET, SO_REUSEPORT);
  if (!ec && transparent) ec = set_transparent(fd, v6);
  return ec;
}

[[noreturn]] void fail(const std::string& what, const std::string& address, const error_code& ec) {
  std::string hint = ec == asio::error::address_in_use ? " (is another process using it? try --base-port)"
                     : ec == asio::error::access_denied ? " (ports below 1024 need CAP_NET_BIND_SERVICE)"
                     : ec == asio::error::no_permission ? " (tproxy needs CAP_NET_ADMIN)"
                                                        : "";
  throw StartError(what + ": cannot listen on " + address + ": " + ec.message() + hint);
}

}  // namespace

boost::system::error_code set_transparent(int fd, bool v6) {
  return v6 ? set_int(fd, SOL_IPV6, IPV6_TRANSPARENT) : set_int(fd, SOL_IP, IP_TRANSPARENT);
}

asio::ip::tcp::acceptor open_listen_socket(asio::io_context& ctx, const asio::ip::tcp::endpoint& ep,
                                           const std::string& what, bool share_port, bool transparent) {
  asio::ip::tcp::acceptor acceptor(ctx);
  error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec && !protect_socket(acceptor.native_handle())) ec = asio::error::access_denied;
  if (!ec) ec = prepare(acceptor.native_handle(), ep.address().is_v6(), share_port, transparent);
  // Accepted sockets inherit TCP_NODELAY: one setsockopt per listener, not per connection.
  if (!ec) acceptor.set_option(asio::ip::tcp::no_delay(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) acceptor.non_blocking(true, ec);
  if (ec) fail(what, format_endpoint(ep), ec);
  return acceptor;
}

asio::ip::udp::socket open_udp_socket(asio::io_context& ctx, const asio::ip::udp::endpoint& ep,
                                      const std::string& what, bool transparent) {
  asio::ip::udp::socket socket(ctx);
  error_code ec;
  socket.open(ep.protocol(), ec);
  const int fd = socket.native_handle();
  if (!ec && !protect_socket(fd)) ec = asio::error::access_denied;
  const bool v6 = ep.address().is_v6();
  if (!ec) ec = prepare(fd, v6, true, transparent);
  if (!ec && transparent) {
    // Each datagram then carries its original destination (a control message);
    // a dual-stack socket gets IPv4 ones at the IPv4 level.
    ec = set_int(fd, SOL_IP, IP_RECVORIGDSTADDR);
    if (!ec && v6) ec = set_int(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR);
    if (!ec && v6) ec = set_int(fd, SOL_IP, IP_TRANSPARENT);
  }
  if (!ec) socket.bind(ep, ec);
  if (!ec) socket.non_blocking(true, ec);
  if (ec) fail(what, format_endpoint({ep.address(), ep.port()}), ec);
  return socket;
}

}  // namespace ugate

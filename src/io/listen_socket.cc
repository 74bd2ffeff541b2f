#include "io/listen_socket.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include "core/gate.h"

namespace ugate {

boost::system::error_code set_transparent(int fd, bool v6) {
  int one = 1;
  int rc = v6 ? ::setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof one)
              : ::setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof one);
  return rc == 0 ? error_code() : error_code(errno, boost::system::system_category());
}

asio::ip::tcp::acceptor open_listen_socket(asio::io_context& ctx, const asio::ip::tcp::endpoint& ep,
                                           const std::string& what, bool share_port, bool transparent) {
  asio::ip::tcp::acceptor acceptor(ctx);
  error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && share_port) {
    int one = 1;
    if (setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      ec = error_code(errno, boost::system::system_category());
  }
  if (!ec && transparent) ec = set_transparent(acceptor.native_handle(), ep.address().is_v6());
  // Accepted sockets inherit TCP_NODELAY: one setsockopt per listener, not per connection.
  if (!ec) acceptor.set_option(asio::ip::tcp::no_delay(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) acceptor.non_blocking(true, ec);
  if (ec) {
    std::string hint = ec == asio::error::address_in_use ? " (is another process using it? try --base-port)"
                       : ec == asio::error::access_denied ? " (ports below 1024 need CAP_NET_BIND_SERVICE)"
                       : ec == asio::error::no_permission ? " (tproxy needs CAP_NET_ADMIN)"
                                                          : "";
    throw StartError(what + ": cannot listen on " + format_endpoint(ep) + ": " + ec.message() + hint);
  }
  return acceptor;
}

}  // namespace ugate

#include "io/listen_socket.h"

#include <sys/socket.h>

#include "core/gate.h"

namespace ugate {

asio::ip::tcp::acceptor open_listen_socket(asio::io_context& ctx, const asio::ip::tcp::endpoint& ep,
                                           const std::string& what, bool share_port) {
  asio::ip::tcp::acceptor acceptor(ctx);
  error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && share_port) {
    int one = 1;
    if (setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      ec = error_code(errno, boost::system::system_category());
  }
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) acceptor.non_blocking(true, ec);
  if (ec) {
    std::string hint = ec == asio::error::address_in_use ? " (is another process using it? try --base-port)"
                       : ec == asio::error::access_denied ? " (ports below 1024 need CAP_NET_BIND_SERVICE)"
                                                          : "";
    throw StartError(what + ": cannot listen on " + format_endpoint(ep) + ": " + ec.message() + hint);
  }
  return acceptor;
}

}  // namespace ugate

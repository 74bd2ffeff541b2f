#pragma once
// A Stream over a plain TCP socket: the one transport the splice path can use.
#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "core/stream.h"

namespace ugate {

// The socket must be non-blocking already.
class TcpStream final : public Stream {
 public:
  TcpStream(asio::ip::tcp::socket socket, std::shared_ptr<StreamMeta> meta);

  std::size_t try_read(asio::mutable_buffer buf, error_code& ec) override;
  std::size_t try_write(asio::const_buffer buf, error_code& ec) override;
  void wait_readable(Waiter& w) override;
  void wait_writable(Waiter& w) override;
  void shutdown_write() override;
  void reset() override;
  void close() override;
  int splice_fd() const override;

  asio::ip::tcp::socket& socket() { return socket_; }

 private:
  asio::ip::tcp::socket socket_;
};

// Proxied sockets have no Nagle delay: small messages must not wait 40 ms.
void prepare_proxied_socket(asio::ip::tcp::socket& s);

}  // namespace ugate

#pragma once
// The admin HTTP server on the control thread (127.0.0.1:BASE+0 by default):
// /metrics, /healthz, /readyz, /debug/streams, /debug/config and a status page.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <optional>

namespace ugate {

namespace asio = boost::asio;
class AdminView;

class AdminServer {
 public:
  static constexpr size_t kMaxConnections = 64;
  AdminServer(asio::io_context& ctx, AdminView& gate) : ctx_(ctx), gate_(gate) {}
  // Binds (StartError on failure) and starts serving.
  void start(const asio::ip::tcp::endpoint& ep);
  void stop();
  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_->local_endpoint(); }

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(asio::ip::tcp::socket socket);

  asio::io_context& ctx_;
  AdminView& gate_;
  std::optional<asio::ip::tcp::acceptor> acceptor_;
  size_t connections_ = 0;
};

}  // namespace ugate

#pragma once
// The push service's HTTPS front (listener `protocol: webpush`): Beast over
// asio::ssl on the control thread, HTTP/1.1 keep-alive, and the long-poll
// GET /s/ID that hands subscribers their messages. Control-plane traffic:
// it shares the thread of the admin server, never a data-plane worker.
// A header block over 16 KiB is answered 431, a body over max_message_size
// 413; both then close the connection after a bounded lingering read of what
// the client still sends (16 MiB, 5 s; see linger() in push_server.cc), so
// that the client reads the answer instead of a reset.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <string>

#include "crypto/ossl.h"
#include "webpush/push_service.h"

namespace ugate::webpush {

struct PushServerConfig {
  std::string name;
  WebPushConfig push;  // certificate, store, the service's limits
  size_t max_connections = 1024;
  // The mesh's trust roots: clients may present a certificate that verifies
  // against them (nodes; see node_mailbox.cc). Empty: no client certificates.
  ossl::Certs client_roots;
};

class PushServer {
 public:
  // Throws std::runtime_error with a clear message when the certificate,
  // key or store cannot be used (at start-up, never later).
  PushServer(asio::io_context& ctx, PushServerConfig config);
  ~PushServer();
  // Binds (StartError-like runtime_error on failure) and serves.
  void start(const asio::ip::tcp::endpoint& ep);
  void stop();
  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_->local_endpoint(); }
  const PushServerConfig& config() const { return config_; }
  PushService& service() { return *service_; }
  const PushCounters& counters() const { return service_->counters(); }
  size_t open_connections() const { return connections_; }
  PushStore& store() const { return service_->store(); }  // on the server's thread only

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(asio::ip::tcp::socket socket);

  asio::io_context& ctx_;
  PushServerConfig config_;
  asio::ssl::context tls_;
  std::unique_ptr<PushService> service_;
  std::optional<asio::ip::tcp::acceptor> acceptor_;
  size_t connections_ = 0;
};

}  // namespace ugate::webpush

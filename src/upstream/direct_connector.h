#pragma once
// DirectConnector: the destination's addresses (the worker's Resolver), then
// a TCP connection to the first that answers; or a Unix socket the config
// names (forward: unix:/PATH). One per worker.
#include "runtime/poller.h"
#include "runtime/resolver.h"
#include "upstream/connector.h"

namespace ugate {

class DirectConnector final : public Connector {
 public:
  DirectConnector(Resolver& resolver, Poller& poller) : resolver_(resolver), poller_(poller) {}
  asio::awaitable<Connected> connect(const ConnectRequest& request, std::unique_ptr<Stream>& up) override;

 private:
  Resolver& resolver_;
  Poller& poller_;
};

// Whether connecting to one of `endpoints` reaches `service`: its address and
// port, or any local address on its port when it is bound to all.
bool reaches(const Endpoints& endpoints, const TcpEndpoint& service);

}  // namespace ugate

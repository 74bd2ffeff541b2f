#pragma once
// Router: which destination a stream goes to. Pure data, no sockets.
//
// Each route matches on a host (exact name, or "*.suffix" for any name below
// suffix) and/or a port; a route with neither is the default. The most
// specific match wins, in this order: exact host with port, exact host,
// wildcard with port, wildcard (longest suffix first), port alone, default.
// Equal matches go to the one listed first.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/endpoint.h"

namespace ugate {

struct RouteMatch {
  std::string host;  // "" = any; "a.test" or "*.b.test"; lower case
  uint16_t port = 0;  // 0 = any
};

struct TlsTerminate;  // identity/tls_terminate.h

struct Route {
  RouteMatch match;
  HostPort forward;  // where matching streams go
  std::shared_ptr<const TlsTerminate> terminate;  // tls-sni: terminate TLS here, forward plaintext
};

class Router {
 public:
  Router() = default;
  explicit Router(std::vector<Route> routes) : routes_(std::move(routes)) {}

  // host is what the client named (SNI, Host, SOCKS target; "" when unknown).
  const Route* match(std::string_view host, uint16_t port) const;
  const std::vector<Route>& routes() const { return routes_; }

  // Does `host` match `pattern` (exact or "*.suffix", case-insensitive)?
  static bool host_matches(std::string_view pattern, std::string_view host);
  // Checks a host pattern from config: returns an error text or "" when valid.
  static std::string validate_pattern(std::string_view pattern);

 private:
  std::vector<Route> routes_;
};

}  // namespace ugate

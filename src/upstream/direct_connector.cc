#include "upstream/direct_connector.h"

#include <algorithm>

#include "runtime/original_dst.h"
#include "transport/tcp_connect.h"
#include "transport/tcp_stream.h"

namespace ugate {

bool reaches(const Endpoints& endpoints, const TcpEndpoint& service) {
  auto bound = unmapped(service.address());
  for (const auto& e : endpoints) {
    if (e.port() != service.port()) continue;
    if (bound.is_unspecified() ? is_local_address(e.address()) : unmapped(e.address()) == bound) return true;
  }
  return false;
}

asio::awaitable<Connected> DirectConnector::connect(const ConnectRequest& request, std::unique_ptr<Stream>& up) {
  Connected out;
  if (request.destination.unix_socket) {  // a config's forward: no name to resolve, no address to guard
    out.result = co_await connect_unix(request.destination.host, poller_, request.meta, up);
    co_return out;
  }
  Endpoints endpoints = co_await resolver_.resolve(request.destination);
  if (endpoints.empty()) {
    out.result = CloseReason::kResolveFailed;
    co_return out;
  }
  if (request.forbidden && reaches(endpoints, *request.forbidden)) {
    out.result = CloseReason::kNotAllowed;
    co_return out;
  }
  if (request.own_addresses_only &&
      !std::all_of(endpoints.begin(), endpoints.end(), [](const auto& e) { return is_local_address(e.address()); })) {
    out.result = CloseReason::kEgressDenied;
    co_return out;
  }
  if (request.given_up && *request.given_up) {  // while the name was looked up
    out.result = CloseReason::kConnectTimeout;  // the caller says why
    co_return out;
  }
  out.result = co_await connect_tcp(endpoints, poller_, request.meta, up);
  if (out.result == CloseReason::kDone && request.wants_local) out.local = static_cast<TcpStream&>(*up).local_endpoint();
  co_return out;
}

}  // namespace ugate

#pragma once
// Connector: where a stream's upstream comes from. Every transport is a
// Connector on the calling side (and a door on the answering side): a direct
// TCP connection (DirectConnector), a CONNECT stream through mesh nodes or
// down a reverse connection (the mesh's), and later QUIC and WebRTC data
// channels. Session dials only through this interface and never names a
// transport.
//
// The contract, which every implementation keeps:
//  - `up` holds whatever is being connected from its first step on, so the
//    caller gives up (its deadline, a drain) by closing it; between steps an
//    implementation checks `given_up` (a name lookup cannot be closed);
//  - on kDone, `up` is connected and meta->upstream names the peer; else
//    `up` may be anything, and the result says why (connect_refused,
//    node_unavailable, not_allowed...), as an access-log reason.
// Datagram flows (UDP through the mesh, with QUIC) will come as a second
// call beside connect(), with the same request.
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string_view>

#include "base/endpoint.h"
#include "base/meta.h"
#include "base/stream.h"

namespace ugate {

struct ConnectRequest {
  HostPort destination;                  // where the client asked to go
  std::shared_ptr<StreamMeta> meta;      // the stream's: headers for tunnels, meta->upstream once connected
  std::string_view via;                  // the listener's egress node ("": none)
  const TcpEndpoint* forbidden = nullptr;  // refused if a name resolves to it (the admin port), else null
  const bool* given_up = nullptr;        // true once the caller no longer waits
  // The client named the destination through the mesh port: a direct dial
  // may reach only this node's own addresses (loopback and its interfaces).
  bool own_addresses_only = false;
  // The door answers its client with our end of the upstream (SOCKS5's BND.ADDR): a
  // getsockname that no other stream pays for.
  bool wants_local = false;
};

struct Connected {
  CloseReason result = CloseReason::kDone;
  TcpEndpoint local;  // our end, when the upstream is a TCP socket of ours and wants_local asked for it
};

class Connector {
 public:
  virtual ~Connector() = default;
  virtual asio::awaitable<Connected> connect(const ConnectRequest& request, std::unique_ptr<Stream>& up) = 0;
};

}  // namespace ugate

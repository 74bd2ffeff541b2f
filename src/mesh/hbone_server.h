#pragma once
// The HBONE server: HTTP/2 CONNECT (Istio ztunnel's wire format). Each
// CONNECT stream names its destination in :authority ("host:port"); ugate
// dials it and answers 200 only once the upstream connection is up, else
// 502/503/504 with an RFC 9209 Proxy-Status saying why. Then the stream and
// the upstream socket are proxied both ways, half-close through END_STREAM.
// The request's Forwarded, baggage and traceparent go into the stream's
// metadata.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>

#include "base/stream.h"
#include "runtime/worker.h"

namespace ugate {

// `protocol: hbone-h2c`: HBONE in plain text (h2c, prior knowledge), for
// loopback and trusted networks.
asio::awaitable<void> hbone_h2c_door(Worker& worker, ListenerSlot& slot, int fd, TcpEndpoint peer);

// Serves HBONE on an established transport: a TCP stream (h2c) or a TLS
// stream whose ALPN chose h2 (the mesh port).
void serve_hbone(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> transport);
// The same on a connection this node made itself (reverse accept: the
// gateway is the HTTP/2 client): kept open while idle, and `on_closed` is
// called when it ends.
void serve_hbone_lasting(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> transport,
                         std::function<void()> on_closed);

}  // namespace ugate

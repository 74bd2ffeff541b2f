#pragma once
// The HBONE server: HTTP/2 CONNECT (Istio ztunnel's wire format) on an
// established transport. The mesh owns the HTTP/2 connection; each request
// stream goes to the door the gate set on the Mesh (src/doors/hbone_door.cc),
// which dials its :authority and answers.
#include <functional>
#include <memory>
#include <string_view>

#include "base/stream.h"
#include "listener/listener_slot.h"
#include "mesh/h2_stream.h"
#include "mesh/hbone_stream.h"

namespace ugate {

class Worker;

// One request of an HBONE connection (HTTP/2, or HTTP/3 on QUIC): its stream,
// whose metadata names the connection's source and peer, and its request head.
struct HboneRequest {
  std::unique_ptr<HboneStream> stream;
  std::unique_ptr<h2::Message> message;  // the door frees it once read: an open tunnel keeps no headers
  TcpEndpoint peer;                      // the connection's source
  std::shared_ptr<const PeerIdentity> identity;  // who the TLS handshake proved the peer to be (mesh port)
  std::string_view sniffed;              // "h2c" when the auto door handed the connection over, "h3" on QUIC
  bool from_gateway = false;             // on this node's reverse connection: a gateway's, for a caller behind it
};
using HboneDoor = void (*)(Worker&, ListenerSlot&, HboneRequest);

// Serves HBONE on an established transport: a TCP stream (h2c) or a TLS
// stream whose ALPN chose h2 (the mesh port).
void serve_hbone(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> transport);
// The same on a connection this node made itself (reverse accept: the
// gateway is the HTTP/2 client): kept open while idle, and `on_closed` is
// called when it ends.
void serve_hbone_lasting(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> transport,
                         std::function<void()> on_closed);

}  // namespace ugate

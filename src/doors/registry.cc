// The door of each listener protocol (the rest of what a protocol is lives
// in its table row, src/listener/protocol.cc).
#include "doors/doors.h"
#include "dns/server.h"
#include "stun/server.h"

namespace ugate {

Door door_for(Protocol protocol) {
  switch (protocol) {
    case Protocol::kTcp: return tcp_forward_door;
    case Protocol::kTlsSni: return tls_sni_door;
    case Protocol::kSocks5: return socks5_door;
    case Protocol::kHttpProxy: return http_proxy_door;
    case Protocol::kAuto: return auto_door;
    case Protocol::kCaptureOut:
    case Protocol::kCaptureIn: return capture_door;
    case Protocol::kHboneH2c: return hbone_h2c_door;
    case Protocol::kMesh: return mesh_door;
    case Protocol::kStun: return stun::stun_tcp_door;  // beside its UDP side (stun/server.h)
    case Protocol::kDns: return dns::dns_tcp_door;     // beside its UDP side (dns/server.h)
    case Protocol::kWebPush:  // the control thread's push server
    case Protocol::kUdp:      // a DatagramListener, not accepted connections
    case Protocol::kQuic:     // the same (quic/quic_server.h)
    case Protocol::kCount: return nullptr;
  }
  return nullptr;
}

}  // namespace ugate

#pragma once
// Listener protocols: one enum, and one table (protocol.cc) that says what
// each one takes from the config. The config reader, the doors and the gate
// ask the table instead of comparing names.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ugate {

enum class Protocol : uint8_t {
  kTcp,         // every stream to the listener's route
  kTlsSni,      // routed by the ClientHello's server name
  kSocks5,      // RFC 1928 proxy
  kHttpProxy,   // CONNECT and absolute-form requests
  kAuto,        // sniffs: SOCKS5, HTTP proxy, HBONE or TLS
  kCaptureOut,  // iptables-redirected, outbound
  kCaptureIn,   // iptables-redirected, inbound
  kWebPush,     // the RFC 8030 push service, on the control thread
  kHboneH2c,    // plain-text HBONE
  kMesh,        // the mTLS mesh port
  kUdp,         // datagram flows
  kStun,        // the STUN server (RFC 8489, RFC 5780), UDP and TCP
  kDns,         // the apps' resolver: mesh names answered, the rest forwarded and cached; UDP and TCP
  kQuic,        // the QUIC mesh transport: HBONE over HTTP/3, mTLS, UDP
  kCount
};

// What a protocol's listeners take and do; one bit each.
enum ProtocolTrait : uint32_t {
  kClientNamesDestination = 1u << 0,  // streams go where the client says (proxies, HBONE)
  kStreamNamesDestination = 1u << 1,  // each stream's request names it: no forward or routes at all
  kProxy = 1u << 2,                   // users and allow
  kCapture = 1u << 3,                 // the original destination (iptables); tproxy
  kDatagram = 1u << 4,                // UDP: no acceptor, flows instead of streams
  kNeedsForward = 1u << 5,            // without routes a listener has nowhere to go
  kTerminatesPerRoute = 1u << 6,      // routes may terminate TLS
  kUdpAssociate = 1u << 7,            // SOCKS5 UDP ASSOCIATE: udp_idle_timeout
  kHttpRequests = 1u << 8,            // origin responses (response_timeout); upstreams reused, so no PROXY header
  kControlThread = 1u << 9,           // served by the control thread, not the workers
  kMeshIdentity = 1u << 10,           // mTLS with the node's identity; the CA and registration endpoints
  kRoutesOptional = 1u << 11,         // routes only narrow where clients go (auto: TLS by SNI)
  kUnixListener = 1u << 12,           // may listen on a Unix socket (address: unix:...): a plain byte stream
  kStunServer = 1u << 13,             // STUN: users, other_address
  kOwnAnswers = 1u << 14,             // answers itself on UDP and TCP of one port: no routes
  kQuicTransport = 1u << 15,          // QUIC on UDP only: no acceptor; its connections carry streams
};

std::string_view to_string(Protocol p);
std::optional<Protocol> protocol_from_name(std::string_view name);
bool has(Protocol p, ProtocolTrait trait);
// "a, b and c": the protocols with `trait`, in table order (for config errors).
std::string protocols_with(ProtocolTrait trait);
// Every protocol name, comma-separated.
std::string protocol_names();

}  // namespace ugate

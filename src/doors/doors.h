#pragma once
// Doors: each turns an accepted connection into a routed Stream, then hands
// it to Session::forward. One function per listener protocol.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "doors/udp_forward.h"
#include "listener/listener_slot.h"
#include "mesh/hbone_server.h"
#include "runtime/worker.h"

namespace ugate {

class Session;
class TcpStream;
struct ClientHello;

// `protocol: tcp`: every stream goes to the listener's route.
asio::awaitable<void> tcp_forward_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from);

// `protocol: tls-sni`: routes by the ClientHello's server name; the bytes
// are only peeked, so the upstream gets the whole handshake (passthrough),
// unless the route terminates TLS: then its certificate answers and the
// upstream gets plaintext.
asio::awaitable<void> tls_sni_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from);
// What tls-sni and auto do with a peeked ClientHello: record its SNI and
// ALPN, pick the listener's route by the SNI (none: no_route), terminate
// TLS where that route says, and forward.
asio::awaitable<void> route_by_sni(std::unique_ptr<Session> session, ListenerSlot& slot, const ClientHello& hello);

// `protocol: auto`: peeks the first bytes within sniff_timeout and hands the
// connection to the door that speaks them: SOCKS5, the HTTP proxy, HBONE
// (HTTP/2 prior knowledge), or route_by_sni for TLS. Nothing is consumed, so
// nothing needs replaying.
asio::awaitable<void> auto_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from);

// `protocol: capture-out` and `capture-in`: connections iptables redirected
// (REDIRECT, or TPROXY with `tproxy: true`) go to their original destination,
// or to the route that matches it; anything else is refused.
asio::awaitable<void> capture_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from);
// `protocol: socks5` (RFC 1928, RFC 1929): CONNECT and UDP ASSOCIATE to the
// client's target, within the listener's users and allow list.
asio::awaitable<void> socks5_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from);

// `protocol: http-proxy`: CONNECT tunnels and absolute-form http:// requests
// on kept-alive connections, within the listener's users and allow list.
asio::awaitable<void> http_proxy_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from);

// What a door does once its session exists, for the auto door, which sniffs
// first and then hands the session to the door that speaks the protocol.
using Serve = asio::awaitable<void> (*)(Worker&, ListenerSlot&, std::unique_ptr<Session>, TcpStream& client);
// A door that is only its Serve: the accepted connection becomes a session and `serve` takes it.
asio::awaitable<void> serve_accepted(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from, Serve serve);
asio::awaitable<void> serve_socks5(Worker& worker, ListenerSlot& slot, std::unique_ptr<Session> session,
                                   TcpStream& client);
asio::awaitable<void> serve_http_proxy(Worker& worker, ListenerSlot& slot, std::unique_ptr<Session> session,
                                       TcpStream& client);
// A UDP ASSOCIATE request was accepted: relays until the TCP connection ends.
asio::awaitable<void> socks5_udp_associate(Worker& worker, ListenerSlot& slot, std::unique_ptr<Session> session,
                                           TcpStream& control, HostPort client_hint);

// `protocol: mesh` (BASE+8): TLS 1.3 with a client certificate verified
// against the trust roots; by ALPN: the CA's CSR endpoint (http/1.1),
// HBONE (h2), else forwarded by SNI like tls-sni routes.
asio::awaitable<void> mesh_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from);
// The mesh port inside an HBONE tunnel: a caller's CONNECT for kHbonePort on a
// reverse connection, already answered 200. TLS with a client certificate as
// on the mesh port, then HBONE (ALPN h2) only: each stream is authorized as
// the caller's, whom the gateway in between cannot impersonate.
asio::awaitable<void> mesh_tunnel_door(Worker& worker, ListenerSlot& slot, std::unique_ptr<Session> session);

// Refused input is counted always and logged once per process (`said`), so a
// flood of bad clients cannot flood the log.
void warn_once(std::atomic<bool>& said, const ListenerSlot& slot, CloseReason why, std::string_view detail);

// `protocol: hbone-h2c`: HBONE in plain text (h2c, prior knowledge), for
// loopback and trusted networks.
asio::awaitable<void> hbone_h2c_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from);
// A request of an HBONE connection (hbone-h2c, mesh, auto, reverse accept)
// becomes a session to its :authority; the gate sets it on every Mesh.
void hbone_door(Worker& worker, ListenerSlot& slot, HboneRequest request);

// The door of a listener protocol, or nullptr (udp and webpush have none).
Door door_for(Protocol protocol);

// The door of a listener with accept_proxy_protocol, in front of its
// protocol's own: a connection from one of the trusted sources must start
// with a PROXY header (v1 or v2) within sniff_timeout, and the client and
// the address it connected to that the header names become the stream's
// source and original destination; else it is refused (sniff_failed when
// there is no header, bad_request when it is malformed or cut, sniff_timeout).
// Connections from other sources go to the protocol's door untouched.
asio::awaitable<void> proxy_protocol_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from);

}  // namespace ugate

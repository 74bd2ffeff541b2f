#pragma once
// Doors: each turns an accepted connection into a routed Stream, then hands
// it to Session::forward. One function per listener protocol.
#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "io/worker.h"

namespace ugate {

// `protocol: tcp`: every stream goes to the listener's route.
asio::awaitable<void> tcp_forward_door(Worker& worker, ListenerSlot& slot, int fd, TcpEndpoint peer);

// `protocol: tls-sni`: routes by the ClientHello's server name; the bytes
// are only peeked, so the upstream gets the whole handshake (passthrough).
asio::awaitable<void> tls_sni_door(Worker& worker, ListenerSlot& slot, int fd, TcpEndpoint peer);

// `protocol: capture-out` and `capture-in`: connections iptables redirected
// (REDIRECT, or TPROXY with `tproxy: true`) go to their original destination,
// or to the route that matches it; anything else is refused.
asio::awaitable<void> capture_door(Worker& worker, ListenerSlot& slot, int fd, TcpEndpoint peer);

// The door for a listener protocol, or nullptr.
Door door_for(std::string_view protocol);

}  // namespace ugate

#pragma once
// TURN over TLS (RFC 8656 section 3.1, the 5349 style): a stun listener with
// `tls: { cert, key }` speaks TLS on its TCP port, with the TLS policy of
// every server of ours that clients we did not write reach
// (public_server_policy). Its UDP side stays plain STUN/TURN.
#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "listener/listener_config.h"

namespace ugate::stun {

// The listener's TLS server context; std::runtime_error naming the file when one cannot be read.
std::unique_ptr<boost::asio::ssl::context> tls_server_context(const ListenerConfig& l);

}  // namespace ugate::stun

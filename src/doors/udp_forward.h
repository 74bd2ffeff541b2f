#pragma once
// `protocol: udp`: a per-client NAT table. The first datagram from a client
// address opens a flow with its own upstream socket; replies go back to that
// client; a flow ends after idle_timeout without datagrams (60 s unless set),
// and max_streams bounds the table. With `tproxy: true` datagrams TPROXY
// captured go to their original destination (IP_RECVORIGDSTADDR) and replies
// are sent from it. Each worker has its own SO_REUSEPORT socket and table: the
// kernel hashes a client to one worker, so no table is shared.
#include <boost/asio/ip/udp.hpp>
#include <memory>

#include "listener/listener_slot.h"
#include "runtime/worker.h"

namespace ugate {

std::unique_ptr<DatagramListener> make_udp_forwarder(Worker& worker, ListenerSlot& slot, asio::ip::udp::socket socket);

}  // namespace ugate

#pragma once
// One forwarded question: to each upstream in turn, `attempts` rounds, over
// UDP and again over TCP when the UDP answer is truncated. The answer is
// accepted only from the upstream asked, with our random ID and the question
// asked (a spoofed datagram is ignored, and the wait goes on).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/udp.hpp>
#include <span>
#include <vector>

#include "dns/message.h"
#include "dns/server.h"

namespace ugate::dns {

// The upstream's answer to `query` (the client's message) in `answer`, with
// the client's ID; false (answer empty) when none answered.
asio::awaitable<bool> ask_upstreams(asio::io_context& io, const DnsListener& listener, WorkerDns& state,
                                    std::span<const uint8_t> query, const Query& q, std::vector<uint8_t>& answer);

}  // namespace ugate::dns

#pragma once
// TURN's relayed transport addresses over UDP: a socket per allocation, on a
// free port of the configured range, owned by the worker whose io_context
// runs it (the worker that holds the allocation), so the relay path takes
// no lock. What a relay socket receives goes to TurnServer::from_peer.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "stun/turn.h"

namespace ugate::stun {

// Milliseconds on the monotonic clock, and Unix time (REST usernames).
uint64_t monotonic_ms();
uint64_t wall_ms();

class UdpRelayPorts {
 public:
  UdpRelayPorts(boost::asio::io_context& context, boost::asio::ip::address ip, uint16_t first, uint16_t last);
  // A socket on a free port for allocation `id` of `server`; nullptr when the
  // ports tried (a random start, then the next ones, a bounded number) are taken.
  std::unique_ptr<RelaySocket> open(TurnServer& server, uint64_t id, bool even);

 private:
  boost::asio::io_context& context_;
  boost::asio::ip::address ip_;
  uint16_t first_, last_;
  std::mt19937 random_;
  std::shared_ptr<std::vector<uint8_t>> buffer_;  // what every relay of this worker receives into
};

}  // namespace ugate::stun

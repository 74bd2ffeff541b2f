#pragma once
// The STUN/TURN client's I/O over UDP: a blocking socket that waits with
// poll() (bounded by the transaction's deadline, and ended early by a `stop`
// descriptor becoming readable), so one code path serves the CLI and the
// node's background prober. On top of client.h's sans-I/O parts: learning the
// server-reflexive address and RFC 5780's mapping behaviour, and a TURN
// allocation held over UDP (the API the WebRTC work uses).
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/endpoint.h"
#include "stun/client.h"

namespace ugate::stun {

class UdpClient {
 public:
  // An ephemeral UDP socket of `server`'s family. Throws boost::system::system_error.
  UdpClient(const boost::asio::ip::udp::endpoint& server, int stop_fd = -1);

  // The address our datagrams to the server leave from (the route's source IP, our port).
  Address local() const { return local_; }
  // Sends `request` to `to` and waits for its answer as RFC 8489 section 6.2.1
  // says; nullopt when none came (or stop). The answer views buffer(): valid
  // until the next call. Other datagrams meanwhile are dropped.
  std::optional<Message> ask(const boost::asio::ip::udp::endpoint& to, std::vector<uint8_t> request,
                             const RetransmitPolicy& p);
  void send(const boost::asio::ip::udp::endpoint& to, std::span<const uint8_t> bytes);
  // The next datagram from `from` until `until` (a view of buffer()); nullopt on timeout (or stop).
  std::optional<std::span<const uint8_t>> receive(const boost::asio::ip::udp::endpoint& from,
                                                  ClientClock::time_point until);
  bool stopped() const { return stopped_; }

 private:
  // Waits for a datagram until `until`; false on timeout or stop.
  bool wait(ClientClock::time_point until);

  boost::asio::io_context io_;
  boost::asio::ip::udp::socket socket_;
  Address local_;
  int stop_fd_;
  bool stopped_ = false;
  std::vector<uint8_t> buffer_;
};

// "IP:PORT" ("[IPv6]:PORT").
std::string to_string(const Address& a);

// The first IPv4 or IPv6 address of host:port; nullopt (and `why`) when it has none.
std::optional<boost::asio::ip::udp::endpoint> resolve_udp(const HostPort& server, std::string& why);

// What one STUN server says about us.
struct ReflexiveReport {
  std::string server;             // as configured
  std::optional<Address> mapped;  // our server-reflexive address
  Address local;                  // where we sent from
  bool behind_nat = false;        // mapped differs from local
  bool rfc5780 = false;           // the server gave OTHER-ADDRESS
  Mapping mapping = Mapping::kUnknown;
  std::string error;              // why mapped is missing or the mapping unknown
};
ReflexiveReport learn_reflexive(const HostPort& server, const RetransmitPolicy& p, int stop_fd = -1);

// A TURN allocation over UDP: each call is one request, retried as the
// credentials need (401, 438); false and error() when it failed.
class TurnSession {
 public:
  TurnSession(const boost::asio::ip::udp::endpoint& server, TurnCredentials c, RetransmitPolicy p, int stop_fd = -1);

  bool allocate(uint32_t lifetime_s = 600);
  bool refresh(uint32_t lifetime_s);  // 0 releases the allocation
  bool permit(std::span<const Address> peers);
  bool bind_channel(uint16_t channel, const Address& peer);
  void send(const Address& peer, std::span<const uint8_t> data);  // a Send indication
  void send_channel(uint16_t channel, std::span<const uint8_t> data);
  // The next Data indication or ChannelData until `until` (copied out).
  struct Received {
    std::optional<Address> peer;  // nullopt for ChannelData: see channel
    uint16_t channel = 0;
    std::vector<uint8_t> data;
  };
  std::optional<Received> receive(ClientClock::time_point until);

  const TurnClient& client() const { return client_; }
  const std::string& error() const { return error_; }
  const UdpClient& socket() const { return socket_; }

 private:
  bool request(std::vector<uint8_t> first);

  boost::asio::ip::udp::endpoint server_;
  UdpClient socket_;
  TurnClient client_;
  RetransmitPolicy policy_;
  std::string error_;
};

}  // namespace ugate::stun

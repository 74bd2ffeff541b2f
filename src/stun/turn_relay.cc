#include "stun/turn_relay.h"
#include "runtime/socket_protect.h"

#include <boost/asio/ip/udp.hpp>
#include <chrono>

#include "runtime/original_dst.h"
#include "stun/server.h"

namespace ugate::stun {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

constexpr unsigned kBurst = 32;         // datagrams in a row before other work runs
constexpr unsigned kPortsTried = 64;    // a full range answers 508 after this many
constexpr size_t kMaxDatagram = 65536;

class UdpRelay final : public RelaySocket {
 public:
  // Shared with the pending wait, which outlives the relay when the allocation ends first.
  struct State : std::enable_shared_from_this<State> {
    State(asio::ip::udp::socket s, TurnServer& server, uint64_t id, std::shared_ptr<std::vector<uint8_t>> buffer)
        : socket(std::move(s)), server(&server), id(id), buffer(std::move(buffer)) {}
    asio::ip::udp::socket socket;
    TurnServer* server;  // null once the relay is gone
    uint64_t id;
    std::shared_ptr<std::vector<uint8_t>> buffer;

    void arm() {
      socket.async_wait(asio::ip::udp::socket::wait_read, [self = shared_from_this()](error_code ec) {
        if (ec || !self->server) return;
        for (unsigned i = 0; i < kBurst && self->server; ++i) {
          asio::ip::udp::endpoint from;
          error_code rec;
          size_t n = self->socket.receive_from(asio::buffer(*self->buffer), from, 0, rec);
          if (rec == asio::error::would_block) break;
          if (rec) continue;  // an ICMP error for an earlier datagram
          self->server->from_peer(self->id, to_stun(unmapped(from.address()), from.port()),
                                  std::span<const uint8_t>(self->buffer->data(), n), monotonic_ms());
        }
        if (self->server) self->arm();
      });
    }
  };

  UdpRelay(std::shared_ptr<State> state, Address address) : state_(std::move(state)), address_(address) {
    state_->arm();
  }
  ~UdpRelay() override {
    state_->server = nullptr;
    error_code ignored;
    state_->socket.close(ignored);  // the pending wait ends with operation_aborted
  }
  Address address() const override { return address_; }
  bool send(const Address& peer, std::span<const uint8_t> bytes) override {
    error_code ec;
    state_->socket.send_to(asio::buffer(bytes.data(), bytes.size()), to_udp(peer), 0, ec);
    return !ec;
  }

 private:
  std::shared_ptr<State> state_;
  Address address_;
};

}  // namespace

uint64_t monotonic_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

uint64_t wall_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

UdpRelayPorts::UdpRelayPorts(asio::io_context& context, asio::ip::address ip, uint16_t first, uint16_t last)
    : context_(context), ip_(ip), first_(first), last_(last), random_(std::random_device()()),
      buffer_(std::make_shared<std::vector<uint8_t>>(kMaxDatagram)) {}

std::unique_ptr<RelaySocket> UdpRelayPorts::open(TurnServer& server, uint64_t id, bool even) {
  const uint32_t span = uint32_t{last_} - first_ + 1;
  const uint32_t start = std::uniform_int_distribution<uint32_t>(0, span - 1)(random_);
  for (uint32_t i = 0; i < std::min(span, kPortsTried); ++i) {
    auto port = static_cast<uint16_t>(first_ + (start + i) % span);
    if (even && port % 2) continue;
    asio::ip::udp::socket socket(context_);
    error_code ec;
    socket.open(ip_.is_v4() ? asio::ip::udp::v4() : asio::ip::udp::v6(), ec);
    if (ec || !protect_socket(socket.native_handle())) return nullptr;  // out of descriptors (or refused): no port will do
    socket.bind({ip_, port}, ec);
    if (ec) continue;
    socket.non_blocking(true, ec);
    auto state = std::make_shared<UdpRelay::State>(std::move(socket), server, id, buffer_);
    return std::make_unique<UdpRelay>(std::move(state), to_stun(ip_, port));
  }
  return nullptr;
}

}  // namespace ugate::stun

#include "stun/client_socket.h"

#include <poll.h>

#include <boost/asio/ip/udp.hpp>
#include <boost/system/system_error.hpp>

#include "base/meta.h"
#include "stun/server.h"

namespace ugate::stun {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using boost::system::error_code;

constexpr size_t kMaxDatagram = 65536;
constexpr int kMaxRetries = 3;  // 401 then 438 twice: more means the server is confused

// The source address the kernel picks towards `server` (a connected UDP socket sends nothing).
asio::ip::address route_source(asio::io_context& io, const udp::endpoint& server) {
  udp::socket probe(io, server.protocol());
  error_code ec;
  probe.connect(server, ec);
  if (ec) return server.protocol() == udp::v4() ? asio::ip::address(asio::ip::address_v4::any())
                                                : asio::ip::address(asio::ip::address_v6::any());
  return probe.local_endpoint().address();
}

}  // namespace

UdpClient::UdpClient(const udp::endpoint& server, int stop_fd)
    : socket_(io_, udp::endpoint(server.protocol(), 0)), stop_fd_(stop_fd), buffer_(kMaxDatagram) {
  local_ = to_stun(route_source(io_, server), socket_.local_endpoint().port());
}

void UdpClient::send(const udp::endpoint& to, std::span<const uint8_t> bytes) {
  error_code ec;  // a lost datagram is retransmitted, or the caller's receive times out
  socket_.send_to(asio::buffer(bytes.data(), bytes.size()), to, 0, ec);
}

bool UdpClient::wait(ClientClock::time_point until) {
  pollfd fds[2] = {{socket_.native_handle(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(until - ClientClock::now()).count();
    if (left <= 0) return false;
    int n = ::poll(fds, stop_fd_ >= 0 ? 2 : 1, static_cast<int>(std::min<int64_t>(left, 60'000)));
    if (n < 0 && errno != EINTR) return false;
    if (n <= 0) continue;
    if (stop_fd_ >= 0 && fds[1].revents) {
      stopped_ = true;
      return false;
    }
    if (fds[0].revents) return true;
  }
}

std::optional<Message> UdpClient::ask(const udp::endpoint& to, std::vector<uint8_t> request, const RetransmitPolicy& p) {
  Transaction t(std::move(request), false, p, ClientClock::now());
  send(to, t.request());
  while (!stopped_) {
    if (!wait(t.deadline())) {
      if (stopped_) break;
      auto tick = t.on_timer(ClientClock::now());
      if (tick == Transaction::Tick::kTimedOut) break;
      if (tick == Transaction::Tick::kResend) send(to, t.request());
      continue;
    }
    udp::endpoint from;
    error_code ec;
    size_t n = socket_.receive_from(asio::buffer(buffer_), from, 0, ec);
    if (ec) continue;
    // Any source: RFC 5780's answers come from the server's other addresses.
    auto m = parse(std::span<const uint8_t>(buffer_.data(), n));
    if (m && t.answered_by(*m)) return std::move(*m);
  }
  return std::nullopt;
}

std::optional<std::span<const uint8_t>> UdpClient::receive(const udp::endpoint& from, ClientClock::time_point until) {
  while (wait(until)) {
    udp::endpoint sender;
    error_code ec;
    size_t n = socket_.receive_from(asio::buffer(buffer_), sender, 0, ec);
    if (!ec && sender == from) return std::span<const uint8_t>(buffer_.data(), n);
  }
  return std::nullopt;
}

std::string to_string(const Address& a) {
  const udp::endpoint ep = to_udp(a);
  return format_endpoint({ep.address(), ep.port()});
}

std::optional<udp::endpoint> resolve_udp(const HostPort& server, std::string& why) {
  asio::io_context io;
  udp::resolver resolver(io);
  error_code ec;
  auto results = resolver.resolve(server.host, std::to_string(server.port), ec);
  if (ec || results.empty()) {
    why = "cannot resolve " + server.str() + ": " + (ec ? ec.message() : "no address");
    return std::nullopt;
  }
  return results.begin()->endpoint();
}

ReflexiveReport learn_reflexive(const HostPort& server, const RetransmitPolicy& p, int stop_fd) {
  ReflexiveReport r;
  r.server = server.str();
  auto to = resolve_udp(server, r.error);
  if (!to) return r;
  try {
    UdpClient c(*to, stop_fd);
    r.local = c.local();
    auto first = c.ask(*to, binding_request(random_transaction()), p);
    if (!first) {
      r.error = "no answer from " + r.server;
      return r;
    }
    auto test1 = read_binding_answer(*first);
    if (!test1) {
      r.error = std::string(to_string(test1.error())) + " from " + r.server;
      return r;
    }
    r.mapped = test1->mapped;
    r.behind_nat = !(test1->mapped == r.local);
    if (!test1->other) {
      r.error = "the server does not offer RFC 5780 (no OTHER-ADDRESS): mapping behaviour unknown";
      return r;
    }
    r.rfc5780 = true;
    // RFC 5780 section 4.3: test II to the other IP and the primary port, test III to the other IP and port.
    const udp::endpoint other = to_udp(*test1->other);
    auto second = c.ask(udp::endpoint(other.address(), to->port()), binding_request(random_transaction()), p);
    auto test2 = second ? read_binding_answer(*second) : Result<BindingAnswer, ClientError>(ClientError::kNotAnswer);
    if (!test2) {
      r.error = "no answer from the server's other address " + format_endpoint({other.address(), to->port()});
      return r;
    }
    const Address mapped2 = test2->mapped;
    std::optional<Address> mapped3;
    if (!(mapped2 == *r.mapped)) {
      auto third = c.ask(other, binding_request(random_transaction()), p);
      auto test3 = third ? read_binding_answer(*third) : Result<BindingAnswer, ClientError>(ClientError::kNotAnswer);
      if (test3) mapped3 = test3->mapped;
      else r.error = "no answer from the server's other address " + format_endpoint({other.address(), other.port()});
    }
    r.mapping = classify_mapping(*r.mapped, mapped2, mapped3);
  } catch (const boost::system::system_error& e) {
    r.error = std::string("socket: ") + e.what();
  }
  return r;
}

TurnSession::TurnSession(const udp::endpoint& server, TurnCredentials c, RetransmitPolicy p, int stop_fd)
    : server_(server), socket_(server, stop_fd), client_(std::move(c)), policy_(p) {}

bool TurnSession::request(std::vector<uint8_t> first) {
  std::vector<uint8_t> bytes = std::move(first);
  for (int i = 0; i <= kMaxRetries; ++i) {
    auto m = socket_.ask(server_, std::move(bytes), policy_);
    if (!m) {
      error_ = socket_.stopped() ? "stopped" : "no answer from the TURN server";
      return false;
    }
    auto a = client_.on_answer(*m);
    if (a.outcome == TurnClient::Outcome::kSuccess) return true;
    if (a.outcome == TurnClient::Outcome::kFailed) {
      error_ = a.reason;
      return false;
    }
    bytes = client_.retry(random_transaction());
  }
  error_ = "refused again after retrying with the server's REALM and NONCE";
  return false;
}

bool TurnSession::allocate(uint32_t lifetime_s) { return request(client_.allocate(random_transaction(), lifetime_s)); }
bool TurnSession::refresh(uint32_t lifetime_s) { return request(client_.refresh(random_transaction(), lifetime_s)); }
bool TurnSession::permit(std::span<const Address> peers) {
  return request(client_.create_permission(random_transaction(), peers));
}
bool TurnSession::bind_channel(uint16_t channel, const Address& peer) {
  return request(client_.channel_bind(random_transaction(), channel, peer));
}

void TurnSession::send(const Address& peer, std::span<const uint8_t> data) {
  socket_.send(server_, client_.send_indication(random_transaction(), peer, data));
}

void TurnSession::send_channel(uint16_t channel, std::span<const uint8_t> data) {
  socket_.send(server_, TurnClient::channel_data(channel, data, false));
}

std::optional<TurnSession::Received> TurnSession::receive(ClientClock::time_point until) {
  while (auto bytes = socket_.receive(server_, until)) {
    auto frame = next_frame(*bytes);
    if (frame && frame->kind == FrameKind::kChannelData && bytes->size() >= 4) {
      size_t length = size_t{(*bytes)[2]} << 8 | (*bytes)[3];
      if (length > bytes->size() - 4) continue;
      Received r;
      r.channel = static_cast<uint16_t>((*bytes)[0] << 8 | (*bytes)[1]);
      r.data.assign(bytes->begin() + 4, bytes->begin() + 4 + static_cast<ptrdiff_t>(length));
      return r;
    }
    auto m = parse(*bytes);
    if (!m) continue;
    if (auto d = read_data_indication(*m)) return Received{d->peer, 0, {d->data.begin(), d->data.end()}};
  }
  return std::nullopt;
}

}  // namespace ugate::stun

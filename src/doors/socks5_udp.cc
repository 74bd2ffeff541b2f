// SOCKS5 UDP ASSOCIATE (RFC 1928 section 7): a relay for one client, alive
// as long as its TCP connection and not idle longer than udp_idle_timeout.
//
// Two UDP sockets: one faces the client (bound next to the TCP connection,
// announced in the reply) and takes datagrams only from the client's address;
// one faces the targets (a dual-stack socket on the wildcard address) and
// takes datagrams only from targets this association has sent to, which go
// back to the client behind the RFC's header. Datagrams are read on
// readiness into a pooled buffer that is returned at once, so an idle
// association holds no buffer.
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "session/session.h"
#include "runtime/socket_protect.h"
#include "doors/doors.h"
#include "codec/socks5_codec.h"
#include "transport/stream_wait.h"

namespace ugate {
namespace {

namespace ip = asio::ip;
using udp = ip::udp;
using socks5::Reply;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

// 64 KiB: the largest IPv4 datagram plus the header we put in front of it.
constexpr unsigned kBufferClass = 4;
static_assert((AdaptiveSize::kMinSize << kBufferClass) >= 65507 + socks5::kMaxUdpReplyHeader);
constexpr unsigned kBurst = 32;        // datagrams in a row before other streams run
constexpr size_t kMaxPeers = 64;       // targets remembered for replies (oldest forgotten)

udp::endpoint unmapped(const udp::endpoint& ep) {
  if (ep.address().is_v6() && ep.address().to_v6().is_v4_mapped())
    return {ip::make_address_v4(ip::v4_mapped, ep.address().to_v6()), ep.port()};
  return ep;
}

class UdpAssociation {
 public:
  UdpAssociation(Worker& worker, ListenerSlot& slot, Session& session, TcpStream& control)
      : worker_(worker), slot_(slot), session_(session), control_(control), client_side_(worker.context()),
        target_side_(worker.context()) {}

  // Opens both sockets; the client-side address to announce, or an error.
  error_code open(const ip::address& client_ip, uint16_t client_port) {
    client_ip_ = client_ip;
    client_port_ = client_port;
    error_code ec;
    TcpEndpoint local = control_.local_endpoint();
    client_side_.open(local.address().is_v4() ? udp::v4() : udp::v6(), ec);
    if (!ec && !protect_socket(client_side_.native_handle())) ec = asio::error::access_denied;
    if (!ec) client_side_.bind(udp::endpoint(local.address(), 0), ec);
    if (!ec) client_side_.non_blocking(true, ec);
    if (ec) return ec;
    // Dual-stack where IPv6 exists, so one socket reaches both families.
    target_side_.open(udp::v6(), ec);
    if (!ec && !protect_socket(target_side_.native_handle())) ec = asio::error::access_denied;
    if (!ec) target_side_.set_option(ip::v6_only(false), ec);
    if (!ec) target_side_.bind(udp::endpoint(udp::v6(), 0), ec);
    dual_stack_ = !ec;
    if (ec) {
      target_side_.close(ec);
      target_side_.open(udp::v4(), ec);
      if (!ec && !protect_socket(target_side_.native_handle())) ec = asio::error::access_denied;
      if (!ec) target_side_.bind(udp::endpoint(udp::v4(), 0), ec);
    }
    if (!ec) target_side_.non_blocking(true, ec);
    return ec;
  }

  udp::endpoint announced() const {
    error_code ec;
    return client_side_.local_endpoint(ec);
  }

  asio::awaitable<void> run() {
    using namespace asio::experimental::awaitable_operators;
    co_await (from_client() && from_targets() && watch_control());
  }

  CloseReason result() const { return result_; }

 private:
  // Ends every part: each loop sees its socket or stream closed and returns.
  void end(CloseReason reason) {
    if (result_ == CloseReason::kDone) result_ = reason;
    error_code ignored;
    client_side_.close(ignored);
    target_side_.close(ignored);
    control_.close();
  }

  void drop() { slot_.stats.datagrams_dropped.add(); }

  // The association lives while the client keeps its TCP connection open.
  asio::awaitable<void> watch_control() {
    char sink[512];
    for (;;) {
      error_code ec = co_await wait_readable(control_);
      if (ec) break;  // closed (idle timeout, drain, another part ended)
      control_.try_read(asio::buffer(sink), ec);  // nothing is expected here: discard it
      if (ec == asio::error::eof) break;
      if (ec && ec != asio::error::would_block && ec != asio::error::interrupted) {
        end(CloseReason::kDownstreamReset);
        break;
      }
    }
    end(CloseReason::kDone);
  }

  asio::awaitable<void> from_client() {
    for (;;) {
      auto [ec] = co_await client_side_.async_wait(udp::socket::wait_read, use_nothrow);
      if (ec || !client_side_.is_open()) break;
      Buffer buf = worker_.buffers().acquire(kBufferClass);
      for (unsigned i = 0; i < kBurst && client_side_.is_open(); ++i) {
        udp::endpoint from;
        size_t n = client_side_.receive_from(asio::buffer(buf.data(), buf.size()), from, 0, ec);
        if (ec == asio::error::would_block) break;
        if (ec) continue;  // ICMP errors of earlier sends surface here
        from = unmapped(from);
        if (from.address() != client_ip_ || (client_port_ && from.port() != client_port_)) {
          drop();  // only the client that asked may use the relay
          continue;
        }
        client_port_ = from.port();
        auto d = socks5::parse_udp_header({reinterpret_cast<const uint8_t*>(buf.data()), n});
        if (!d || !allows(*slot_.config, d->target)) {
          drop();
          continue;
        }
        co_await send_to_target(d->target, {buf.data() + d->header_size, n - d->header_size});
      }
      worker_.buffers().release(buf);
      co_await asio::post(worker_.context(), asio::use_awaitable);  // fairness
    }
    end(CloseReason::kDone);
  }

  asio::awaitable<void> send_to_target(const HostPort& target, asio::const_buffer payload) {
    // Names resolve through the worker's cache; a lookup holds only this loop.
    Endpoints eps = co_await worker_.resolver().resolve(target);
    if (eps.empty() || !target_side_.is_open()) {
      drop();
      co_return;
    }
    udp::endpoint to(eps.front().address(), eps.front().port());
    if (dual_stack_ && to.address().is_v4())
      to = udp::endpoint(ip::make_address_v6(ip::v4_mapped, to.address().to_v4()), to.port());
    error_code ec;
    target_side_.send_to(payload, to, 0, ec);
    if (ec) {
      drop();  // a full send buffer drops, as a router would
      co_return;
    }
    remember(unmapped(to));
    StreamMeta& m = session_.meta();
    if (m.destination.port == 0) m.destination = target;  // the first target, for logs
    m.bytes_up += payload.size();
    slot_.stats.bytes_up.add(payload.size());
    session_.active();
  }

  asio::awaitable<void> from_targets() {
    for (;;) {
      auto [ec] = co_await target_side_.async_wait(udp::socket::wait_read, use_nothrow);
      if (ec || !target_side_.is_open()) break;
      Buffer buf = worker_.buffers().acquire(kBufferClass);
      uint8_t* payload = reinterpret_cast<uint8_t*>(buf.data()) + socks5::kMaxUdpReplyHeader;
      for (unsigned i = 0; i < kBurst && target_side_.is_open(); ++i) {
        udp::endpoint from;
        size_t n = target_side_.receive_from(asio::buffer(payload, buf.size() - socks5::kMaxUdpReplyHeader), from,
                                             0, ec);
        if (ec == asio::error::would_block) break;
        if (ec) continue;
        from = unmapped(from);
        if (!known(from) || client_port_ == 0) {
          drop();  // nobody asked this sender
          continue;
        }
        size_t header = socks5::write_udp_header(from, payload);
        client_side_.send_to(asio::buffer(payload - header, header + n), udp::endpoint(client_ip_, client_port_), 0,
                             ec);
        if (ec) {
          drop();
          continue;
        }
        session_.meta().bytes_down += n;
        slot_.stats.bytes_down.add(n);
        session_.active();
      }
      worker_.buffers().release(buf);
      co_await asio::post(worker_.context(), asio::use_awaitable);
    }
    end(CloseReason::kDone);
  }

  bool known(const udp::endpoint& ep) const { return std::find(peers_.begin(), peers_.end(), ep) != peers_.end(); }
  void remember(const udp::endpoint& ep) {
    if (known(ep)) return;
    if (peers_.size() < kMaxPeers) {
      peers_.push_back(ep);
    } else {
      peers_[next_peer_] = ep;
      next_peer_ = (next_peer_ + 1) % kMaxPeers;
    }
  }

  Worker& worker_;
  ListenerSlot& slot_;
  Session& session_;
  TcpStream& control_;
  udp::socket client_side_;
  udp::socket target_side_;
  ip::address client_ip_;
  uint16_t client_port_ = 0;  // from the request, else the first datagram's
  bool dual_stack_ = false;   // target_side_ is IPv6 and takes IPv4 as mapped addresses
  std::vector<udp::endpoint> peers_;
  size_t next_peer_ = 0;
  CloseReason result_ = CloseReason::kDone;
};

}  // namespace

asio::awaitable<void> socks5_udp_associate(Worker& worker, ListenerSlot& slot, std::unique_ptr<Session> session,
                                           TcpStream& control, HostPort client_hint) {
  StreamMeta& m = session->meta();
  if (m.unix_peer) {  // its datagrams would have no address to come from
    std::string refusal = socks5::reply(Reply::kCommandNotSupported, TcpEndpoint{});
    co_await write_all(control, refusal);
    session->finish(CloseReason::kBadRequest);
    co_return;
  }
  // The client's datagrams must come from the address of its TCP connection;
  // the port it named, if any, narrows that further.
  ip::address client_ip = m.source.address();
  if (client_ip.is_v6() && client_ip.to_v6().is_v4_mapped())
    client_ip = ip::make_address_v4(ip::v4_mapped, client_ip.to_v6());
  UdpAssociation relay(worker, slot, *session, control);
  if (relay.open(client_ip, client_hint.port)) {
    std::string failure = socks5::reply(Reply::kGeneralFailure, TcpEndpoint{});
    co_await write_all(control, failure);
    session->finish(CloseReason::kOverload);
    co_return;
  }
  std::string ok = socks5::reply(Reply::kSucceeded, relay.announced());
  error_code ec = co_await write_all(control, ok);
  if (ec) {
    session->fail(CloseReason::kDownstreamReset);
    co_return;
  }
  m.mode = ProxyMode::kDatagram;
  session->start_relaying(slot.config->udp_idle_timeout);
  co_await relay.run();
  m.reason = relay.result();  // a timeout or drain, recorded by the session, wins
}

}  // namespace ugate

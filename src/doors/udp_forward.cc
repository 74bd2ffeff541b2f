#include "doors/udp_forward.h"
#include "runtime/socket_protect.h"

#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <span>
#include <unordered_map>
#include <vector>

#include "session/session.h"
#include "runtime/listen_socket.h"
#include "runtime/original_dst.h"
#include "runtime/spawn.h"

namespace ugate {
namespace {

using UdpEndpoint = asio::ip::udp::endpoint;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr unsigned kBurst = 32;               // datagrams in a row before other work runs
constexpr size_t kMaxDatagram = 65536;        // the largest UDP payload fits
constexpr std::chrono::seconds kDrainQuiet{1};  // while draining, a flow quiet this long ends

TcpEndpoint as_tcp(const UdpEndpoint& ep) { return {ep.address(), ep.port()}; }
UdpEndpoint as_udp(const TcpEndpoint& ep) { return {ep.address(), ep.port()}; }
UdpEndpoint unmapped_udp(const UdpEndpoint& ep) { return as_udp(unmapped(as_tcp(ep))); }

// One NAT entry's identity: the client, and under TPROXY where it was going.
struct FlowKey {
  UdpEndpoint client;
  UdpEndpoint orig;
  bool operator==(const FlowKey&) const = default;
};

struct FlowKeyHash {
  size_t operator()(const FlowKey& k) const {
    std::hash<asio::ip::address> h;
    return h(k.client.address()) * 31 + k.client.port() + (h(k.orig.address()) * 31 + k.orig.port()) * 1000003;
  }
};

int udp_socket(const UdpEndpoint& ep) {
  int fd = ::socket(ep.protocol().family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0 && !protect_socket(fd)) {
    ::close(fd);
    errno = EPERM;
    return -1;
  }
  return fd;
}

class UdpForwarder;

// One NAT entry: its own upstream socket, connected, so replies come from the
// upstream only; they go back to the client from the listener's socket, or
// under TPROXY from a transparent socket bound to the original destination.
// Like a Session it owns itself and retires (Worker::retire), but only once
// no Poller callback is due: a cancelled wait is answered by a post that may
// run after the next reap, so a flow that closes while one is due retires
// from that callback.
class Flow final : public Tracked, public Waiter {
 public:
  Flow(UdpForwarder& owner, const FlowKey& key, int up_fd, int reply_fd, HostPort destination,
       const UdpEndpoint& upstream, Admission admission);
  // Registers the upstream socket; false when that failed (the flow is gone).
  bool start();
  void send_up(std::span<const uint8_t> datagram);
  void close(CloseReason reason);

  void on_tick(uint32_t now_tick) override;
  void abort(CloseReason reason) override { close(reason); }
  void describe(nlohmann::json& out, uint32_t now_tick) const override;
  void on_ready(const error_code& ec) override;

 private:
  ~Flow() override;
  void wait();

  UdpForwarder& owner_;
  Admission admission_;  // its place in the NAT table (max_streams)
  FlowKey key_;
  int up_fd_;
  int reply_fd_;  // -1: replies go out through the listener's socket
  Poller::Entry entry_;
  StreamMeta meta_;
  uint32_t last_active_;
  bool pending_ = false;  // a Poller callback is due
  bool closed_ = false;
};

class UdpForwarder final : public DatagramListener {
 public:
  UdpForwarder(Worker& worker, ListenerSlot& slot, asio::ip::udp::socket socket)
      : worker_(worker), slot_(slot), socket_(std::move(socket)), in_(kMaxDatagram), out_(kMaxDatagram) {
    slot_.bound = as_tcp(socket_.local_endpoint());
  }

  void start() override {
    spawn(worker_.context().get_executor(), receive_loop(), "listener " + slot_.config->name + ": udp receive loop");
  }

  void stop() override {
    draining_ = true;
    error_code ignored;
    socket_.cancel(ignored);  // the receive loop ends; replies still go out until the flows end
  }

  void drop(UdpDrop why, std::string_view detail) {
    slot_.stats.udp_drops[static_cast<size_t>(why)].add();
    static std::array<std::atomic<bool>, static_cast<size_t>(UdpDrop::kCount)> said{};
    if (!said[static_cast<size_t>(why)].exchange(true, std::memory_order_relaxed))
      spdlog::warn("listener {}: dropped a datagram: {} (counted in ugate_udp_drops_total{{reason=\"{}\"}})",
                   slot_.config->name, detail, to_string(why));
  }

  Worker& worker() { return worker_; }
  ListenerSlot& slot() { return slot_; }
  bool draining() const { return draining_; }
  std::span<uint8_t> reply_buffer() { return out_; }
  int socket_fd() { return socket_.native_handle(); }
  void forget(const FlowKey& key) { flows_.erase(key); }

 private:
  asio::awaitable<void> receive_loop();
  asio::awaitable<Flow*> open_flow(const FlowKey& key);

  Worker& worker_;
  ListenerSlot& slot_;
  asio::ip::udp::socket socket_;
  std::vector<uint8_t> in_;   // a datagram from a client
  std::vector<uint8_t> out_;  // a reply, on its way back (flows share it: one worker, one at a time)
  // The original destination's control message. A member, not a coroutine
  // local: GCC 12 does not keep the alignment of locals in coroutine frames.
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(sockaddr_in6)) + CMSG_SPACE(sizeof(sockaddr_in))> control_{};
  std::unordered_map<FlowKey, Flow*, FlowKeyHash> flows_;
  bool draining_ = false;
};

// ---- Flow

Flow::Flow(UdpForwarder& owner, const FlowKey& key, int up_fd, int reply_fd, HostPort destination,
           const UdpEndpoint& upstream, Admission admission)
    : owner_(owner), admission_(std::move(admission)), key_(key), up_fd_(up_fd), reply_fd_(reply_fd) {
  ListenerSlot& slot = owner_.slot();
  Session::start_meta(meta_, slot, unmapped(as_tcp(key.client)));
  meta_.destination = std::move(destination);
  meta_.upstream = as_tcp(upstream);
  if (key.orig.port()) meta_.original_dst = as_tcp(key.orig);
  meta_.mode = ProxyMode::kDatagram;
  slot.stats.accepted.add();
  slot.stats.active.add();
  last_active_ = owner_.worker().now_tick();
  owner_.worker().track(*this);
}

bool Flow::start() {
  if (owner_.worker().poller().add(up_fd_, entry_)) {
    close(CloseReason::kOverload);  // out of epoll resources
    return false;
  }
  wait();
  return true;
}

Flow::~Flow() {
  ListenerSlot& slot = owner_.slot();
  slot.stats.closed_by_reason[static_cast<size_t>(meta_.reason)].add();
  slot.stats.closed.add();
  slot.stats.active.sub();
  owner_.worker().access_log().record(meta_);
}

void Flow::wait() {
  pending_ = true;
  owner_.worker().poller().wait_readable(entry_, *this);
}

void Flow::close(CloseReason reason) {
  if (closed_) return;
  closed_ = true;
  meta_.reason = reason;
  owner_.forget(key_);
  owner_.worker().poller().cancel(entry_);  // a registered wait is answered, with an error
  ::close(up_fd_);
  if (reply_fd_ >= 0) ::close(reply_fd_);
  if (!pending_) owner_.worker().retire(*this);  // else on_ready does
}

void Flow::send_up(std::span<const uint8_t> datagram) {
  ListenerSlot& slot = owner_.slot();
  ssize_t n = ::send(up_fd_, datagram.data(), datagram.size(), MSG_NOSIGNAL);
  if (n < 0 && errno == ECONNREFUSED) {
    // The answer to an earlier datagram was ICMP unreachable; this one may pass.
    owner_.drop(UdpDrop::kUpstreamUnreachable, "the upstream answered ICMP unreachable");
    n = ::send(up_fd_, datagram.data(), datagram.size(), MSG_NOSIGNAL);
  }
  if (n < 0) {
    owner_.drop(UdpDrop::kSendFailed, std::string("send to the upstream failed: ") + std::strerror(errno));
    return;
  }
  meta_.bytes_up += datagram.size();
  ++meta_.packets_up;
  slot.stats.bytes_up.add(datagram.size());
  slot.stats.packets_up.add();
  last_active_ = owner_.worker().now_tick();
}

void Flow::on_ready(const error_code& ec) {
  pending_ = false;
  if (closed_) {
    owner_.worker().retire(*this);
    return;
  }
  if (ec) {
    close(CloseReason::kUpstreamReset);
    return;
  }
  ListenerSlot& slot = owner_.slot();
  std::span<uint8_t> buf = owner_.reply_buffer();
  for (unsigned i = 0; i < kBurst; ++i) {
    ssize_t n = ::recv(up_fd_, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return wait();
      if (errno == EINTR) continue;
      if (errno == ECONNREFUSED) {
        owner_.drop(UdpDrop::kUpstreamUnreachable, "the upstream answered ICMP unreachable");
        continue;
      }
      return close(CloseReason::kUpstreamReset);
    }
    const UdpEndpoint& to = reply_fd_ >= 0 ? unmapped_udp(key_.client) : key_.client;
    int fd = reply_fd_ >= 0 ? reply_fd_ : owner_.socket_fd();
    if (::sendto(fd, buf.data(), static_cast<size_t>(n), MSG_NOSIGNAL, to.data(), static_cast<socklen_t>(to.size())) <
        0) {
      owner_.drop(UdpDrop::kReplyFailed, std::string("reply to the client failed: ") + std::strerror(errno));
      continue;
    }
    meta_.bytes_down += static_cast<uint64_t>(n);
    ++meta_.packets_down;
    slot.stats.bytes_down.add(static_cast<uint64_t>(n));
    slot.stats.packets_down.add();
    last_active_ = owner_.worker().now_tick();
  }
  // A long burst: let the rest of the worker run, then carry on (the poller
  // answers a wait at once when the readable flag is set).
  entry_.readable = true;
  wait();
}

void Flow::on_tick(uint32_t now) {
  Duration idle = owner_.slot().config->idle_timeout;
  if (owner_.draining()) idle = std::min<Duration>(idle, kDrainQuiet);
  if (now - last_active_ >= Worker::ticks(idle))
    close(owner_.draining() ? CloseReason::kDrained : CloseReason::kIdleTimeout);
}

void Flow::describe(nlohmann::json& out, uint32_t now_tick) const {
  describe_meta(meta_, "forwarding", static_cast<uint64_t>(now_tick - last_active_) * Worker::kTick.count(), out);
}

// ---- UdpForwarder

// The original destination of a TPROXY'd datagram, from its control message.
bool original_destination(msghdr& msg, UdpEndpoint& out) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR && c->cmsg_len >= CMSG_LEN(sizeof(sockaddr_in))) {
      std::memcpy(out.data(), CMSG_DATA(c), sizeof(sockaddr_in));
      out.resize(sizeof(sockaddr_in));
      return true;
    }
    if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR &&
        c->cmsg_len >= CMSG_LEN(sizeof(sockaddr_in6))) {
      std::memcpy(out.data(), CMSG_DATA(c), sizeof(sockaddr_in6));
      out.resize(sizeof(sockaddr_in6));
      return true;
    }
  }
  return false;
}

asio::awaitable<void> UdpForwarder::receive_loop() {
  const bool tproxy = slot_.config->tproxy;
  unsigned in_a_row = 0;
  while (!draining_) {
    FlowKey key;
    iovec iov{in_.data(), in_.size()};
    msghdr msg{};
    msg.msg_name = key.client.data();
    msg.msg_namelen = static_cast<socklen_t>(key.client.capacity());
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (tproxy) {
      msg.msg_control = control_.data();
      msg.msg_controllen = control_.size();
    }
    ssize_t n = ::recvmsg(socket_.native_handle(), &msg, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        in_a_row = 0;
        auto [ec] = co_await socket_.async_wait(asio::socket_base::wait_read, use_nothrow);
        if (ec) break;  // stopped
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EBADF) break;
      continue;  // a pending ICMP error on the socket: it is consumed by this call
    }
    key.client.resize(msg.msg_namelen);
    std::span<const uint8_t> datagram(in_.data(), static_cast<size_t>(n));
    if (tproxy) {
      UdpEndpoint orig;
      if (!original_destination(msg, orig)) {
        drop(UdpDrop::kNoOriginalDst, "no original destination: it was not sent here by TPROXY");
        continue;
      }
      key.orig = unmapped_udp(orig);
    }
    auto it = flows_.find(key);
    Flow* flow = nullptr;
    if (it != flows_.end()) flow = it->second;
    else flow = co_await open_flow(key);
    if (flow && !draining_) flow->send_up(datagram);
    if (++in_a_row >= kBurst) {
      in_a_row = 0;
      co_await asio::post(worker_.context(), asio::use_awaitable);  // a flood must not starve the rest
    }
  }
}

asio::awaitable<Flow*> UdpForwarder::open_flow(const FlowKey& key) {
  const ListenerConfig& c = *slot_.config;
  Result<Admission, CloseReason> admitted = slot_.admit();  // held across the resolve below
  if (!admitted && admitted.error() == CloseReason::kMemoryWatermark) {
    drop(UdpDrop::kMemoryWatermark, "resident memory is above overload.memory_watermark");
    co_return nullptr;
  }
  if (!admitted) {
    drop(UdpDrop::kFlowLimit, "the NAT table is full (max_streams " + std::to_string(c.max_streams) + ")");
    co_return nullptr;
  }
  HostPort dest;
  if (key.orig.port()) {
    if (key.orig.port() == slot_.bound.port() && is_local_address(key.orig.address())) {
      drop(UdpDrop::kCaptureLoop, "its original destination is the listener itself");
      co_return nullptr;
    }
    dest = {key.orig.address().to_string(), key.orig.port()};
    if (const Route* route = c.router.match(dest.host, dest.port)) dest = route->forward;
  } else if (const Route* route = c.router.match("", slot_.bound.port())) {
    dest = route->forward;
  }
  // A name waits for its lookup here (cached for Resolver::kCacheTtl); the
  // kernel keeps the datagrams that arrive meanwhile.
  // (No co_await inside ?: : GCC 12 frees its temporaries too early.)
  Endpoints resolved;
  if (dest.port) resolved = co_await worker_.resolver().resolve(dest);
  if (resolved.empty()) {
    drop(UdpDrop::kNoRoute, dest.port ? "'" + dest.str() + "' did not resolve" : "no route");
    co_return nullptr;
  }
  if (auto it = flows_.find(key); it != flows_.end()) co_return it->second;  // opened while we waited
  UdpEndpoint upstream = unmapped_udp(as_udp(resolved.front()));
  int up = udp_socket(upstream);
  if (up < 0 || ::connect(up, upstream.data(), static_cast<socklen_t>(upstream.size())) != 0) {
    drop(UdpDrop::kNoSocket, std::string("no upstream socket: ") + std::strerror(errno));
    if (up >= 0) ::close(up);
    co_return nullptr;
  }
  int reply = -1;
  if (key.orig.port()) {
    // Replies must come from the address the client sent to: a transparent
    // socket bound to it (several flows may share it, hence SO_REUSEADDR).
    reply = udp_socket(key.orig);
    int one = 1;
    bool ok = reply >= 0 && !set_transparent(reply, key.orig.address().is_v6()) &&
              ::setsockopt(reply, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
              ::bind(reply, key.orig.data(), static_cast<socklen_t>(key.orig.size())) == 0;
    if (!ok) {
      drop(UdpDrop::kReplyBindFailed, "cannot answer from " + format_endpoint(as_tcp(key.orig)) + ": " +
                                          std::strerror(errno));
      ::close(up);
      if (reply >= 0) ::close(reply);
      co_return nullptr;
    }
  }
  auto* flow = new Flow(*this, key, up, reply, std::move(dest), upstream, std::move(*admitted));
  flows_.emplace(key, flow);
  co_return flow->start() ? flow : nullptr;
}

}  // namespace

std::unique_ptr<DatagramListener> make_udp_forwarder(Worker& worker, ListenerSlot& slot,
                                                     asio::ip::udp::socket socket) {
  return std::make_unique<UdpForwarder>(worker, slot, std::move(socket));
}

}  // namespace ugate

#include "dns/upstream.h"
#include "runtime/socket_protect.h"

#include <openssl/rand.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>

namespace ugate::dns {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr size_t kMaxAnswer = 65535;

uint16_t random_id() {
  uint16_t id = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&id), sizeof id) != 1)
    id = static_cast<uint16_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return id;
}

enum class Got : uint8_t { kAnswer, kTruncated, kTimeout, kNetwork, kBadAnswer };

// Whether `answer` answers our query (ID and question): else it is ignored.
bool answers(std::span<const uint8_t> answer, uint16_t id, const Query& q, ResponseInfo& info) {
  auto parsed = parse_response(answer);
  if (!parsed || parsed->header.id != id) return false;
  info = std::move(*parsed);
  return info.name.bytes() == q.name.bytes() && info.type == q.type && info.klass == q.klass;
}

asio::awaitable<Got> over_udp(asio::io_context& io, const udp::endpoint& to, std::span<const uint8_t> query, uint16_t id,
                              const Query& q, std::chrono::milliseconds timeout, std::vector<uint8_t>& answer) {
  udp::socket socket(io);
  error_code ec;
  socket.open(to.protocol(), ec);
  if (!ec && !protect_socket(socket.native_handle())) ec = asio::error::access_denied;
  if (!ec) socket.connect(to, ec);  // the kernel then drops datagrams from anyone else
  if (!ec) socket.send(asio::buffer(query.data(), query.size()), 0, ec);
  if (ec) co_return Got::kNetwork;
  socket.non_blocking(true, ec);
  asio::steady_timer timer(io, timeout);
  answer.resize(kMaxAnswer);
  for (;;) {
    auto which = co_await (socket.async_wait(udp::socket::wait_read, use_nothrow) || timer.async_wait(use_nothrow));
    if (which.index() == 1) co_return Got::kTimeout;
    size_t n = socket.receive(asio::buffer(answer), 0, ec);
    if (ec == asio::error::would_block) continue;
    if (ec) co_return Got::kNetwork;  // an ICMP error: refused, unreachable
    ResponseInfo info;
    if (!answers(std::span<const uint8_t>(answer.data(), n), id, q, info)) continue;  // not ours: wait on
    answer.resize(n);
    co_return info.header.tc() ? Got::kTruncated : Got::kAnswer;
  }
}

asio::awaitable<Got> over_tcp(asio::io_context& io, const udp::endpoint& to, std::span<const uint8_t> query, uint16_t id,
                              const Query& q, std::chrono::milliseconds timeout, std::vector<uint8_t>& answer) {
  tcp::socket socket(io);
  asio::steady_timer timer(io, timeout);
  const tcp::endpoint peer(to.address(), to.port());
  error_code opened;
  socket.open(peer.protocol(), opened);  // here, not in async_connect, so that it is protected first
  if (opened || !protect_socket(socket.native_handle())) co_return Got::kNetwork;
  auto connected = co_await (socket.async_connect(peer, use_nothrow) || timer.async_wait(use_nothrow));
  if (connected.index() == 1) co_return Got::kTimeout;
  if (std::get<0>(std::get<0>(connected))) co_return Got::kNetwork;
  std::vector<uint8_t> framed(2 + query.size());
  put16(framed.data(), static_cast<uint16_t>(query.size()));
  std::copy(query.begin(), query.end(), framed.begin() + 2);
  auto written = co_await (asio::async_write(socket, asio::buffer(framed), use_nothrow) || timer.async_wait(use_nothrow));
  if (written.index() == 1) co_return Got::kTimeout;
  if (std::get<0>(std::get<0>(written))) co_return Got::kNetwork;
  uint8_t length[2];
  auto head = co_await (asio::async_read(socket, asio::buffer(length), use_nothrow) || timer.async_wait(use_nothrow));
  if (head.index() == 1) co_return Got::kTimeout;
  if (std::get<0>(std::get<0>(head))) co_return Got::kNetwork;
  answer.resize(static_cast<size_t>(length[0] << 8 | length[1]));
  auto body = co_await (asio::async_read(socket, asio::buffer(answer), use_nothrow) || timer.async_wait(use_nothrow));
  if (body.index() == 1) co_return Got::kTimeout;
  if (std::get<0>(std::get<0>(body))) co_return Got::kNetwork;
  ResponseInfo info;
  if (!answers(answer, id, q, info)) co_return Got::kBadAnswer;
  co_return Got::kAnswer;
}

void count(WorkerDns& state, UpstreamError e) { state.upstream_errors[static_cast<size_t>(e)].add(); }

}  // namespace

asio::awaitable<bool> ask_upstreams(asio::io_context& io, const DnsListener& listener, WorkerDns& state,
                                    std::span<const uint8_t> query, const Query& q, std::vector<uint8_t>& answer) {
  const DnsConfig& c = *listener.dns;
  std::vector<uint8_t> ours(query.begin(), query.end());
  for (uint32_t round = 0; round < c.attempts; ++round) {
    for (const udp::endpoint& to : listener.upstreams) {
      const uint16_t id = random_id();  // a new one per attempt: a late answer to an earlier one is not taken
      put16(ours.data(), id);
      Got got = co_await over_udp(io, to, ours, id, q, c.timeout, answer);
      if (got == Got::kTruncated) {  // RFC 7766: the whole answer over TCP
        got = co_await over_tcp(io, to, ours, id, q, c.timeout, answer);
        if (got != Got::kAnswer) {
          count(state, UpstreamError::kTcpRetry);
          continue;
        }
      }
      if (got == Got::kTimeout) count(state, UpstreamError::kTimeout);
      if (got == Got::kNetwork) count(state, UpstreamError::kNetwork);
      if (got == Got::kBadAnswer) count(state, UpstreamError::kBadAnswer);
      if (got != Got::kAnswer) continue;
      put16(answer.data(), q.header.id);
      co_return true;
    }
  }
  answer.clear();
  co_return false;
}

}  // namespace ugate::dns

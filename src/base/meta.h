#pragma once
// What ugate knows about one Stream: where it came from, where it goes, who the
// peer is and what it cost. Filled in by the door, the router and the connector;
// read by the access log, /debug/streams and metrics.
#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json_fwd.hpp>
#include <chrono>
#include <initializer_list>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/endpoint.h"

namespace ugate {

// Why a stream ended. Everything but kDone counts as an error in metrics.
enum class CloseReason : uint8_t {
  kDone,             // both directions finished (EOF each way)
  kNoRoute,          // nothing in the router matched
  kResolveFailed,    // the destination name did not resolve
  kConnectRefused,   // upstream answered RST to our SYN
  kConnectTimeout,   // upstream did not answer within connect_timeout
  kConnectFailed,    // other connect errors (unreachable, ...)
  kUpstreamReset,    // upstream reset or a read/write on it failed
  kDownstreamReset,  // the client reset or a read/write on it failed
  kIdleTimeout,      // no bytes either way for idle_timeout
  kDrained,          // still open when the drain timeout ran out
  kOverload,         // listener at max_streams or out of resources
  kSniffFailed,      // the first bytes were not the protocol the door expects
  kSniffTimeout,     // the client did not send enough to route within sniff_timeout
  kNoOriginalDst,    // a capture door got a connection that iptables did not redirect
  kCaptureLoop,      // its original destination is the capture port itself, on this host
  kBadRequest,       // the client broke the door's protocol (malformed or unsupported request)
  kAuthFailed,       // missing or wrong proxy credentials
  kNotAllowed,       // the listener's allow list refuses the destination
  kUnreachable,      // no route to the upstream's network or host
  kTlsFailed,        // the TLS handshake failed (protocol error, no common version, peer gone)
  kTlsTimeout,       // the TLS handshake did not finish within handshake_timeout
  kNoClientCert,     // a client certificate was required (mesh port) and none came
  kCertRejected,     // the peer's certificate did not verify (unknown CA, expired, no SPIFFE ID)
  kDenied,           // authorization refused the stream, or the CA refused a request
  kNodeUnavailable,  // a mesh node that is neither registered here, on the link, nor at a known address
  kTokenRejected,    // a registration token that is missing, malformed, expired, or not for this node
  kResponseTimeout,  // the upstream sent no response head within response_timeout (http-proxy: 504)
  kEgressDenied,     // a mesh stream named a destination that is not this node's own (the listener's egress allows)
  kMemoryWatermark,  // refused: the process's resident memory is above overload.memory_watermark
  kRateLimited,      // refused: its source address opened more connections than source_rate_limit allows
  kCount
};
std::string_view to_string(CloseReason r);
// A CloseReason as an error_code, for a failure that reaches several streams
// at once (a mesh connection that could not be made fails each waiting stream
// with it), and back: `otherwise` for errors of other categories.
boost::system::error_code close_reason_error(CloseReason r);
CloseReason close_reason_of(const boost::system::error_code& ec, CloseReason otherwise);

enum class ProxyMode : uint8_t { kNone, kSplice, kCopy, kDatagram };
std::string_view to_string(ProxyMode m);

using TcpEndpoint = boost::asio::ip::tcp::endpoint;
// "1.2.3.4:80", "[::1]:80"; "" for an unset endpoint (port 0).
std::string format_endpoint(const TcpEndpoint& ep);

// Ids for streams and UDP flows: unique in the process, increasing on each thread.
uint64_t new_stream_id();

// Who the peer of a connection proved to be with its certificate (mTLS). StreamMeta holds one
// per connection, shared by the metadata of every stream on it.
struct PeerIdentity {
  std::string spiffe_id;  // "" while not proven (h2rt: until its registration token is checked)
  std::string node_id;    // of its certificate's EC key
};

// Who is at the other end of a Unix socket, as the kernel says (SO_PEERCRED,
// taken when the client connected).
struct UnixPeer {
  int32_t pid = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// Request header fields a door recorded (HBONE: forwarded, baggage, traceparent), packed into
// one string of "name\0value\0" pairs: an idle tunnel keeps them as long as it lives, so they
// cost one allocation, not a vector and a string per value. HTTP/2 forbids NUL in names and
// values, so the separator never occurs inside one.
class RecordedHeaders {
 public:
  RecordedHeaders() = default;
  RecordedHeaders(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
    for (auto [name, value] : fields) add(name, value);
  }
  void add(std::string_view name, std::string_view value);
  std::optional<std::string_view> find(std::string_view name) const;
  bool empty() const { return packed_.empty(); }
  void shrink() { packed_.shrink_to_fit(); }
  template <class F>
  void for_each(F&& f) const {
    for (size_t pos = 0; pos < packed_.size();) {
      std::string_view name = next(pos), value = next(pos);
      f(name, value);
    }
  }

 private:
  std::string_view next(size_t& pos) const;
  std::string packed_;
};

struct StreamMeta {
  uint64_t id = 0;
  std::string_view listener;  // points into the Config, which outlives streams
  std::string_view protocol;  // door protocol ("tcp")
  std::string_view sniffed;   // what the auto door recognised: "tls", "http1", "h2c", "socks5"; "" elsewhere
  TcpEndpoint source;         // client address as seen by us
  HostPort destination;       // what the client asked for / the route chose
  TcpEndpoint original_dst;   // capture doors: where the client was going before iptables
  TcpEndpoint upstream;       // the address actually connected to
  std::string sni;            // TLS server name the client sent, if any
  std::string alpn;           // TLS ALPN protocols offered, comma-separated
  std::string user;           // who the proxy door authenticated (SOCKS5, Proxy-Authorization)
  std::shared_ptr<const PeerIdentity> peer;  // proven by its certificate (mTLS); null otherwise
  std::optional<UnixPeer> unix_peer;         // a client on a Unix socket listener; `source` is unset then
  std::string_view authz_rule;  // the authorization rule that decided ("default"), "" before
  bool authz_allowed = false;
  RecordedHeaders headers;
  std::chrono::system_clock::time_point start{};
  std::chrono::steady_clock::time_point start_mono{};
  uint64_t bytes_up = 0;    // client -> upstream
  uint64_t bytes_down = 0;  // upstream -> client
  uint64_t packets_up = 0;    // datagrams, for UDP flows
  uint64_t packets_down = 0;
  ProxyMode mode = ProxyMode::kNone;
  CloseReason reason = CloseReason::kDone;

  std::string_view peer_spiffe() const { return peer ? std::string_view(peer->spiffe_id) : std::string_view(); }
  std::string_view peer_node() const { return peer ? std::string_view(peer->node_id) : std::string_view(); }
};

// One /debug/streams entry: the metadata, the stream's phase and how long it has been idle.
void describe_meta(const StreamMeta& m, std::string_view phase, uint64_t idle_ms, nlohmann::json& out);

}  // namespace ugate

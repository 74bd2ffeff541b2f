#include "base/meta.h"

#include "base/stats.h"

#include <atomic>
#include <nlohmann/json.hpp>

namespace ugate {

void RecordedHeaders::add(std::string_view name, std::string_view value) {
  packed_.append(name).push_back('\0');
  packed_.append(value).push_back('\0');
}

std::optional<std::string_view> RecordedHeaders::find(std::string_view name) const {
  std::optional<std::string_view> found;
  for_each([&](std::string_view n, std::string_view v) {
    if (!found && n == name) found = v;
  });
  return found;
}

std::string_view RecordedHeaders::next(size_t& pos) const {
  size_t end = packed_.find('\0', pos);
  std::string_view field(packed_.data() + pos, end - pos);
  pos = end + 1;
  return field;
}

uint64_t new_stream_id() {
  // Each thread takes IDs in blocks: one write to the shared counter per
  // 1024 streams, not one per stream from every core.
  constexpr uint64_t kBlock = 1024;
  static std::atomic<uint64_t> next_block{1};
  thread_local uint64_t next = 0, end = 0;
  if (next == end) {
    next = next_block.fetch_add(kBlock, std::memory_order_relaxed);
    end = next + kBlock;
  }
  return next++;
}

std::string_view to_string(CloseReason r) {
  switch (r) {
    case CloseReason::kDone: return "done";
    case CloseReason::kNoRoute: return "no_route";
    case CloseReason::kResolveFailed: return "resolve_failed";
    case CloseReason::kConnectRefused: return "connect_refused";
    case CloseReason::kConnectTimeout: return "connect_timeout";
    case CloseReason::kConnectFailed: return "connect_failed";
    case CloseReason::kUpstreamReset: return "upstream_reset";
    case CloseReason::kDownstreamReset: return "downstream_reset";
    case CloseReason::kIdleTimeout: return "idle_timeout";
    case CloseReason::kDrained: return "drained";
    case CloseReason::kOverload: return "overload";
    case CloseReason::kSniffFailed: return "sniff_failed";
    case CloseReason::kSniffTimeout: return "sniff_timeout";
    case CloseReason::kNoOriginalDst: return "no_original_dst";
    case CloseReason::kCaptureLoop: return "capture_loop";
    case CloseReason::kBadRequest: return "bad_request";
    case CloseReason::kAuthFailed: return "auth_failed";
    case CloseReason::kNotAllowed: return "not_allowed";
    case CloseReason::kUnreachable: return "connect_unreachable";
    case CloseReason::kTlsFailed: return "tls_failed";
    case CloseReason::kTlsTimeout: return "tls_timeout";
    case CloseReason::kNoClientCert: return "no_client_cert";
    case CloseReason::kCertRejected: return "cert_rejected";
    case CloseReason::kDenied: return "denied";
    case CloseReason::kNodeUnavailable: return "node_unavailable";
    case CloseReason::kTokenRejected: return "token_rejected";
    case CloseReason::kResponseTimeout: return "response_timeout";
    case CloseReason::kEgressDenied: return "egress_denied";
    case CloseReason::kMemoryWatermark: return "memory_watermark";
    case CloseReason::kRateLimited: return "rate_limited";
    case CloseReason::kCount: break;
  }
  return "unknown";
}

namespace {
class CloseReasonCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "ugate.close_reason"; }
  std::string message(int v) const override { return std::string(to_string(static_cast<CloseReason>(v))); }
};
const CloseReasonCategory kCloseReasonCategory;
}  // namespace

boost::system::error_code close_reason_error(CloseReason r) {
  return {static_cast<int>(r), kCloseReasonCategory};
}

CloseReason close_reason_of(const boost::system::error_code& ec, CloseReason otherwise) {
  if (ec.category() != kCloseReasonCategory || ec.value() <= 0 || ec.value() >= static_cast<int>(CloseReason::kCount))
    return otherwise;
  return static_cast<CloseReason>(ec.value());
}

std::string format_endpoint(const TcpEndpoint& ep) {
  if (ep.port() == 0) return "";
  return HostPort{ep.address().to_string(), ep.port()}.str();
}

std::string_view to_string(UdpDrop d) {
  switch (d) {
    case UdpDrop::kFlowLimit: return "flow_limit";
    case UdpDrop::kNoRoute: return "no_route";
    case UdpDrop::kNoSocket: return "no_socket";
    case UdpDrop::kSendFailed: return "send_failed";
    case UdpDrop::kReplyFailed: return "reply_failed";
    case UdpDrop::kUpstreamUnreachable: return "upstream_unreachable";
    case UdpDrop::kNoOriginalDst: return "no_original_dst";
    case UdpDrop::kCaptureLoop: return "capture_loop";
    case UdpDrop::kReplyBindFailed: return "reply_bind_failed";
    case UdpDrop::kMemoryWatermark: return "memory_watermark";
    case UdpDrop::kCount: break;
  }
  return "unknown";
}

std::string_view to_string(ProxyMode m) {
  switch (m) {
    case ProxyMode::kSplice: return "splice";
    case ProxyMode::kCopy: return "copy";
    case ProxyMode::kDatagram: return "datagram";
    case ProxyMode::kNone: break;
  }
  return "none";
}

void describe_meta(const StreamMeta& m, std::string_view phase, uint64_t idle_ms, nlohmann::json& out) {
  auto age = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - m.start_mono);
  out = {{"id", m.id},
         {"listener", m.listener},
         {"protocol", m.protocol},
         {"sniffed", m.sniffed},
         {"phase", phase},
         {"src", format_endpoint(m.source)},
         {"dst", m.destination.empty() ? "" : m.destination.str()},
         {"orig_dst", format_endpoint(m.original_dst)},
         {"upstream", format_endpoint(m.upstream)},
         {"mode", to_string(m.mode)},
         {"age_ms", age.count()},
         {"idle_ms", idle_ms},
         {"bytes_up", m.bytes_up},
         {"bytes_down", m.bytes_down},
         {"user", m.user},
         {"sni", m.sni},
         {"alpn", m.alpn},
         {"peer_spiffe", m.peer_spiffe()},
         {"peer_node", m.peer_node()},
         {"authz", m.authz_rule.empty() ? "" : std::string(m.authz_allowed ? "allow:" : "deny:") + std::string(m.authz_rule)}};
  if (m.unix_peer) {
    out["peer_pid"] = m.unix_peer->pid;
    out["peer_uid"] = m.unix_peer->uid;
    out["peer_gid"] = m.unix_peer->gid;
  }
  if (!m.headers.empty()) {
    auto& headers = out["headers"] = nlohmann::json::object();
    m.headers.for_each([&](std::string_view name, std::string_view value) { headers[std::string(name)] = value; });
  }
  if (m.mode == ProxyMode::kDatagram) {
    out["packets_up"] = m.packets_up;
    out["packets_down"] = m.packets_down;
  }
}

}  // namespace ugate

#include "core/meta.h"

namespace ugate {

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
    case CloseReason::kCount: break;
  }
  return "unknown";
}

std::string format_endpoint(const TcpEndpoint& ep) {
  if (ep.port() == 0) return "";
  return HostPort{ep.address().to_string(), ep.port()}.str();
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

}  // namespace ugate

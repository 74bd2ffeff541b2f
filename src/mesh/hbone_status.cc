#include "mesh/hbone_status.h"

namespace ugate {
namespace {

struct Entry {
  CloseReason reason;
  HboneAnswer answer;
};

// One row per reason a server can refuse with; the client maps back by error type.
constexpr Entry kTable[] = {
    {CloseReason::kConnectRefused, {502, "connection_refused"}},
    {CloseReason::kConnectTimeout, {504, "connection_timeout"}},
    {CloseReason::kConnectFailed, {502, "destination_unavailable"}},
    {CloseReason::kResolveFailed, {502, "dns_error"}},
    {CloseReason::kNoRoute, {503, "destination_not_found"}},
    {CloseReason::kOverload, {503, "connection_limit_reached"}},
    {CloseReason::kMemoryWatermark, {503, "connection_limit_reached"}},  // read back as kOverload
    {CloseReason::kBadRequest, {400, "http_request_error"}},
    {CloseReason::kNotAllowed, {403, "http_request_denied"}},
    {CloseReason::kDenied, {403, "destination_ip_prohibited"}},
    {CloseReason::kEgressDenied, {403, "destination_ip_prohibited"}},  // the caller reads it back as denied
    {CloseReason::kNodeUnavailable, {503, "destination_ip_unroutable"}},
};

}  // namespace

HboneAnswer hbone_answer(CloseReason reason) {
  for (const auto& e : kTable)
    if (e.reason == reason) return e.answer;
  return {502, "proxy_internal_error"};
}

std::string proxy_status_value(const HboneAnswer& answer) {
  return "ugate; error=" + std::string(answer.error_type);
}

CloseReason hbone_refusal_reason(int status, std::string_view proxy_status) {
  if (auto at = proxy_status.find("error="); at != std::string_view::npos) {
    std::string_view type = proxy_status.substr(at + 6);
    type = type.substr(0, type.find_first_of("; ,"));
    for (const auto& e : kTable)
      if (e.answer.error_type == type) return e.reason;
  }
  if (status == 504) return CloseReason::kConnectTimeout;
  if (status == 503) return CloseReason::kOverload;
  if (status >= 400 && status < 500) return CloseReason::kBadRequest;
  return CloseReason::kConnectFailed;
}

}  // namespace ugate

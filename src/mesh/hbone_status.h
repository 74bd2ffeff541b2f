#pragma once
// How an HBONE server answers a CONNECT it could not carry out, and how a
// client reads that answer: an HTTP status plus an RFC 9209 Proxy-Status
// header naming the error ("ugate; error=connection_refused"), both ways
// through one table.
#include <string>
#include <string_view>

#include "base/meta.h"

namespace ugate {

struct HboneAnswer {
  int status;                   // 502, 503, 504, 400, ...
  std::string_view error_type;  // RFC 9209 section 2.3
};

// The answer for a stream that ended with `reason` before it was tunnelled.
HboneAnswer hbone_answer(CloseReason reason);
// The Proxy-Status header value for it.
std::string proxy_status_value(const HboneAnswer& answer);
// Client side: why a CONNECT was refused, from the status and Proxy-Status.
CloseReason hbone_refusal_reason(int status, std::string_view proxy_status);

}  // namespace ugate

#pragma once
// The request header fields an HBONE CONNECT carries, as ztunnel sends them:
// Forwarded with the original source (RFC 7239; appended to the one the
// stream arrived with), and the trace context: the baggage and traceparent
// the stream arrived with, or a new traceparent (W3C Trace Context) when it
// came with none, so both ends' access logs name the same trace.
#include <string>
#include <utility>
#include <vector>

#include "base/meta.h"

namespace ugate {

std::vector<std::pair<std::string, std::string>> tunnel_headers(const StreamMeta& m);

}  // namespace ugate

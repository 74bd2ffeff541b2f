#pragma once
// The CA endpoint's wire format, sans-I/O: `POST /ca/sign` over HTTP/1.1 on
// the mesh port (ALPN http/1.1), a PEM CSR as the body, and either a one-time
// bootstrap token (`Authorization: Bearer <token>`) or the client certificate
// of a node renewing. The reply is JSON: {"cert_chain": PEM, "root_cert": PEM},
// or an error status with a one-line reason.
#include <boost/beast/http/error.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"

namespace ugate {

inline constexpr size_t kCaMaxHeader = 8 * 1024;
inline constexpr size_t kCaMaxBody = 16 * 1024;

struct CaRequest {
  std::string token;  // from Authorization: Bearer; "" when none
  std::string csr;    // the body
};

// A struct, to carry Beast's reason for kBadHttp (the client reads it).
struct CaError {
  enum Reason : uint8_t {
    kNeedMore = 1,      // a prefix of a request within the limits: read more
    kBadHttp,           // malformed, or over a limit (413): `http` says which
    kNotFound,          // not /ca/sign
    kMethodNotAllowed,  // not POST
    kBadAuthorization,  // an Authorization that is not Bearer
  };
  Reason reason = kBadHttp;
  boost::beast::http::error http{};
  bool operator==(Reason r) const { return reason == r; }
};
// The one line a client reads, and the status it comes with.
std::string to_string(const CaError& e);
int http_status(const CaError& e);

// Parses the request at the start of `bytes` (bounded by the limits above).
Result<CaRequest, CaError> parse_ca_request(std::string_view bytes);

struct CaResponse {
  int status = 500;
  std::string body;  // JSON on 200, else a one-line reason
};
std::string http_response(const CaResponse& r);

}  // namespace ugate

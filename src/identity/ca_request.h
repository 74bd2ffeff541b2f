#pragma once
// The CA endpoint's wire format, sans-I/O: `POST /ca/sign` over HTTP/1.1 on
// the mesh port (ALPN http/1.1), a PEM CSR as the body, and either a one-time
// bootstrap token (`Authorization: Bearer <token>`) or the client certificate
// of a node renewing. The reply is JSON: {"cert_chain": PEM, "root_cert": PEM},
// or an error status with a one-line reason.
#include <cstddef>
#include <string>
#include <string_view>

namespace ugate {

inline constexpr size_t kCaMaxHeader = 8 * 1024;
inline constexpr size_t kCaMaxBody = 16 * 1024;

struct CaRequest {
  std::string token;  // from Authorization: Bearer; "" when none
  std::string csr;    // the body
};

enum class CaParse { kNeedMore, kBad, kDone };

// Parses the request at the start of `bytes` (bounded by the limits above);
// on kBad `error` says why, as a client would read it.
CaParse parse_ca_request(std::string_view bytes, CaRequest& out, std::string& error, int& status);

struct CaResponse {
  int status = 500;
  std::string body;  // JSON on 200, else a one-line reason
};
std::string http_response(const CaResponse& r);

}  // namespace ugate

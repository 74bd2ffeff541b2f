#include "identity/ca_request.h"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace ugate {

namespace http = boost::beast::http;

std::string to_string(const CaError& e) {
  switch (e.reason) {
    case CaError::kNeedMore: return "incomplete request";
    case CaError::kBadHttp: return "bad request: " + http::make_error_code(e.http).message();
    case CaError::kNotFound: return "not found (the CA endpoint is POST /ca/sign)";
    case CaError::kMethodNotAllowed: return "method not allowed (POST a PEM CSR)";
    case CaError::kBadAuthorization: return "Authorization: expected 'Bearer <token>'";
  }
  return "bad request";
}

int http_status(const CaError& e) {
  switch (e.reason) {
    case CaError::kBadHttp:
      return e.http == http::error::body_limit || e.http == http::error::header_limit ? 413 : 400;
    case CaError::kNotFound: return 404;
    case CaError::kMethodNotAllowed: return 405;
    case CaError::kBadAuthorization: return 401;
    case CaError::kNeedMore: break;
  }
  return 400;
}

Result<CaRequest, CaError> parse_ca_request(std::string_view bytes) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(kCaMaxHeader);
  parser.body_limit(kCaMaxBody);
  parser.eager(true);
  boost::system::error_code ec;
  std::string_view rest = bytes;
  while (!parser.is_done()) {
    size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    rest.remove_prefix(used);
    if (ec == http::error::need_more || (!ec && used == 0)) return CaError{CaError::kNeedMore};
    // Every error put() sets is one of Beast's http::error values.
    if (ec) return CaError{CaError::kBadHttp, static_cast<http::error>(ec.value())};
  }
  const auto& req = parser.get();
  if (req.target() != "/ca/sign") return CaError{CaError::kNotFound};
  if (req.method() != http::verb::post) return CaError{CaError::kMethodNotAllowed};
  CaRequest out;
  std::string_view auth = req[http::field::authorization];
  if (!auth.empty()) {
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.size() <= kBearer.size() || auth.substr(0, kBearer.size()) != kBearer)
      return CaError{CaError::kBadAuthorization};
    out.token = std::string(auth.substr(kBearer.size()));
  }
  out.csr = req.body();
  return out;
}

std::string http_response(const CaResponse& r) {
  const char* reason = r.status == 200   ? "OK"
                       : r.status == 400 ? "Bad Request"
                       : r.status == 401 ? "Unauthorized"
                       : r.status == 403 ? "Forbidden"
                       : r.status == 404 ? "Not Found"
                       : r.status == 405 ? "Method Not Allowed"
                       : r.status == 413 ? "Payload Too Large"
                                         : "Internal Server Error";
  std::string body = r.status == 200 ? r.body : r.body + "\n";
  return "HTTP/1.1 " + std::to_string(r.status) + " " + reason + "\r\nContent-Type: " +
         (r.status == 200 ? "application/json" : "text/plain") + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace ugate

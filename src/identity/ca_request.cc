#include "identity/ca_request.h"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace ugate {

namespace http = boost::beast::http;

CaParse parse_ca_request(std::string_view bytes, CaRequest& out, std::string& error, int& status) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(kCaMaxHeader);
  parser.body_limit(kCaMaxBody);
  parser.eager(true);
  boost::system::error_code ec;
  std::string_view rest = bytes;
  while (!parser.is_done()) {
    size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    rest.remove_prefix(used);
    if (ec == http::error::need_more || (!ec && used == 0)) return CaParse::kNeedMore;
    if (ec) {
      error = "bad request: " + ec.message();
      status = ec == http::error::body_limit || ec == http::error::header_limit ? 413 : 400;
      return CaParse::kBad;
    }
  }
  const auto& req = parser.get();
  if (req.target() != "/ca/sign") {
    error = "not found (the CA endpoint is POST /ca/sign)";
    status = 404;
    return CaParse::kBad;
  }
  if (req.method() != http::verb::post) {
    error = "method not allowed (POST a PEM CSR)";
    status = 405;
    return CaParse::kBad;
  }
  std::string_view auth = req[http::field::authorization];
  if (!auth.empty()) {
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.size() <= kBearer.size() || auth.substr(0, kBearer.size()) != kBearer) {
      error = "Authorization: expected 'Bearer <token>'";
      status = 401;
      return CaParse::kBad;
    }
    out.token = std::string(auth.substr(kBearer.size()));
  }
  out.csr = req.body();
  return CaParse::kDone;
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

#pragma once
// A small HTTPS/1.1 client for the push service's API, used by `ugate push`
// and the push benchmark: one kept-alive TLS connection to one origin,
// reconnected when the server closed it, every operation with a deadline.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ugate::webpush {

namespace asio = boost::asio;

struct Url {
  std::string scheme, host, port, target;  // target: path and query, "/" at least
  static std::optional<Url> parse(std::string_view text);
  std::string origin() const;
};

struct HttpResult {
  int status = 0;          // 0: no response; `error` says why
  std::string error;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// TLS client context: verifies the server against `ca_file`, or the system's
// roots (and SSL_CERT_FILE) when it is empty.
asio::ssl::context make_client_tls(const std::string& ca_file);

class HttpsClient {
 public:
  HttpsClient(asio::io_context& ctx, asio::ssl::context& tls, Url origin);
  ~HttpsClient();
  asio::awaitable<HttpResult> request(boost::beast::http::verb method, std::string target,
                                      std::vector<std::pair<std::string, std::string>> headers, std::string body,
                                      std::chrono::seconds timeout);

 private:
  using Stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  asio::awaitable<std::string> connect(std::chrono::seconds timeout);  // "" or the error

  asio::io_context& ctx_;
  asio::ssl::context& tls_;
  Url origin_;
  std::unique_ptr<Stream> stream_;
};

// Runs one request to completion on a private io_context (for the CLI).
HttpResult https_request(asio::ssl::context& tls, const Url& url, boost::beast::http::verb method,
                         std::vector<std::pair<std::string, std::string>> headers, std::string body,
                         std::chrono::seconds timeout);

}  // namespace ugate::webpush

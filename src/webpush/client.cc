#include "webpush/client.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "ugate/version.h"

namespace ugate::webpush {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

}  // namespace

std::optional<Url> Url::parse(std::string_view text) {
  Url u;
  size_t sep = text.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  u.scheme = text.substr(0, sep);
  if (u.scheme != "https") return std::nullopt;  // push services speak HTTPS only
  std::string_view rest = text.substr(sep + 3);
  size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (u.target.front() == '?') u.target = "/" + u.target;
  if (authority.starts_with('[')) {  // [v6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    u.host = authority.substr(1, close - 1);
    authority.remove_prefix(close + 1);
    if (authority.starts_with(':')) u.port = authority.substr(1);
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) u.port = authority.substr(colon + 1);
  }
  if (u.port.empty()) u.port = "443";
  if (u.host.empty()) return std::nullopt;
  return u;
}

std::string Url::origin() const {
  std::string host_part = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + host_part + (port == "443" ? "" : ":" + port);
}

asio::ssl::context make_client_tls(const std::string& ca_file) {
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_verify_mode(asio::ssl::verify_peer);
  if (ca_file.empty()) tls.set_default_verify_paths();
  else tls.load_verify_file(ca_file);  // throws with the reason: a CLI start-up error
  return tls;
}

HttpsClient::HttpsClient(asio::io_context& ctx, asio::ssl::context& tls, Url origin)
    : ctx_(ctx), tls_(tls), origin_(std::move(origin)) {}

HttpsClient::~HttpsClient() = default;

asio::awaitable<std::string> HttpsClient::connect(std::chrono::seconds timeout) {
  stream_ = std::make_unique<Stream>(ctx_, tls_);
  auto& tcp = beast::get_lowest_layer(*stream_);
  asio::ip::tcp::resolver resolver(ctx_);
  auto [rec, endpoints] = co_await resolver.async_resolve(origin_.host, origin_.port, use_nothrow);
  if (rec) co_return "resolve " + origin_.host + ": " + rec.message();
  tcp.expires_after(timeout);
  auto [cec, ep] = co_await tcp.async_connect(endpoints, use_nothrow);
  if (cec) co_return "connect " + origin_.host + ":" + origin_.port + ": " + cec.message();
  tcp.socket().set_option(asio::ip::tcp::no_delay(true));
  SSL_set_tlsext_host_name(stream_->native_handle(), origin_.host.c_str());
  stream_->set_verify_callback(asio::ssl::host_name_verification(origin_.host));
  auto [hec] = co_await stream_->async_handshake(asio::ssl::stream_base::client, use_nothrow);
  if (hec) co_return "TLS handshake with " + origin_.host + ": " + hec.message();
  co_return "";
}

asio::awaitable<HttpResult> HttpsClient::request(http::verb method, std::string target,
                                                 std::vector<std::pair<std::string, std::string>> headers,
                                                 std::string body, std::chrono::seconds timeout) {
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, origin_.port == "443" ? origin_.host : origin_.host + ":" + origin_.port);
  req.set(http::field::user_agent, std::string("ugate/") + kVersion);
  for (auto& [name, value] : headers) req.set(name, value);
  req.body() = std::move(body);
  req.prepare_payload();

  HttpResult result;
  // A kept-alive connection the server has closed meanwhile fails the first
  // write or read: then one fresh connection is tried.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool fresh = !stream_;
    if (fresh) {
      if (std::string err = co_await connect(timeout); !err.empty()) {
        stream_.reset();
        co_return HttpResult{0, err};
      }
    }
    auto& tcp = beast::get_lowest_layer(*stream_);
    tcp.expires_after(timeout);
    auto [wec, wn] = co_await http::async_write(*stream_, req, use_nothrow);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 << 20);
    boost::system::error_code rec = wec;
    if (!wec) std::tie(rec, std::ignore) = co_await http::async_read(*stream_, buffer, parser, use_nothrow);
    if (rec) {
      stream_.reset();
      result.error = std::string(wec ? "write: " : "read: ") + rec.message();
      if (fresh) co_return result;
      continue;
    }
    auto& res = parser.get();
    result.status = static_cast<int>(res.result_int());
    for (const auto& f : res) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      result.headers[name] = std::string(f.value());
    }
    result.body = std::move(res.body());
    if (!res.keep_alive()) stream_.reset();
    co_return result;
  }
  co_return result;
}

HttpResult https_request(asio::ssl::context& tls, const Url& url, http::verb method,
                         std::vector<std::pair<std::string, std::string>> headers, std::string body,
                         std::chrono::seconds timeout) {
  asio::io_context ctx;
  HttpsClient client(ctx, tls, url);
  HttpResult out;
  std::exception_ptr failed;  // awaited, in effect: the caller gets it
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        out = co_await client.request(method, url.target, std::move(headers), std::move(body), timeout);
      },
      [&failed](std::exception_ptr e) { failed = e; });
  ctx.run();
  if (failed) std::rethrow_exception(failed);
  return out;
}

}  // namespace ugate::webpush

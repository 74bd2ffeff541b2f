#include "admin/admin_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "admin/metrics.h"
#include "admin/status.h"
#include "admin/status_assets.h"
#include "admin/status_page.h"
#include "runtime/spawn.h"
#include "admin/admin_view.h"
#include "config/config.h"
#include "runtime/accept_loop.h"
#include "runtime/listen_socket.h"
#include "ugate/version.h"

namespace ugate {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kRequestTimeout{30};

struct Reply {
  http::status status = http::status::ok;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// The page loads only its own style sheet and script: injected markup could
// run nothing even if escaping ever missed a spot.
constexpr const char* kPagePolicy =
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

Reply json_reply(const nlohmann::json& j) {
  return {http::status::ok, "application/json", j.dump(2) + "\n"};
}

asio::awaitable<Reply> route(AdminView& gate, const http::request<http::empty_body>& req) {
  if (req.method() != http::verb::get && req.method() != http::verb::head)
    co_return Reply{http::status::method_not_allowed, "text/plain", "only GET\n"};
  std::string_view target = req.target(), query;
  if (auto q = target.find('?'); q != std::string_view::npos) query = target.substr(q + 1), target = target.substr(0, q);

  if (target == "/metrics") co_return Reply{http::status::ok, "text/plain; version=0.0.4", gate.metrics().render()};
  if (target == "/healthz") co_return Reply{http::status::ok, "text/plain", "ok\n"};
  if (target == "/readyz") {
    if (gate.ready()) co_return Reply{http::status::ok, "text/plain", "ready\n"};
    co_return Reply{http::status::service_unavailable, "text/plain", gate.draining() ? "draining\n" : "starting\n"};
  }
  if (target == "/debug/streams") co_return json_reply(co_await gate.describe_streams());
  if (target == "/debug/config") co_return json_reply(to_json(gate.config()));
  if (target == "/debug/nodes") co_return json_reply(co_await gate.describe_nodes());
  if (target == "/debug/listeners") co_return json_reply(gate.describe_listeners());
  if (target == "/debug/status") co_return json_reply(co_await node_status(gate));
  if (target == "/") {
    auto status = co_await node_status(gate);
    auto streams = co_await gate.describe_streams();
    co_return Reply{http::status::ok, "text/html; charset=utf-8",
                    render_status_page(status, streams, parse_status_query(query))};
  }
  if (target == "/status.css") co_return Reply{http::status::ok, "text/css; charset=utf-8", std::string(kStatusCss)};
  if (target == "/status.js")
    co_return Reply{http::status::ok, "text/javascript; charset=utf-8", std::string(kStatusJs)};
  // Browsers ask for it with every page; no icon, and no 404 for their consoles to report.
  if (target == "/favicon.ico") co_return Reply{http::status::no_content, "image/x-icon", ""};
  co_return Reply{http::status::not_found, "text/plain", "not found; see /\n"};
}

}  // namespace

void AdminServer::start(const asio::ip::tcp::endpoint& ep) {
  acceptor_.emplace(open_listen_socket(ctx_, ep, "admin", false));
  spdlog::info("admin on http://{}", format_endpoint(acceptor_->local_endpoint()));
  spawn(ctx_.get_executor(), accept_loop(), "admin accept loop");
}

void AdminServer::stop() {
  boost::system::error_code ignored;
  if (acceptor_) acceptor_->close(ignored);
}

asio::awaitable<void> AdminServer::accept_loop() {
  co_await accept_connections(*acceptor_, kMaxConnections, connections_, "admin",
                              [this](asio::ip::tcp::socket s) { return serve(std::move(s)); });
}

asio::awaitable<void> AdminServer::serve(asio::ip::tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(16 * 1024);
    stream.expires_after(kRequestTimeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (ec) break;
    const auto& req = parser.get();
    Reply reply = co_await route(gate_, req);
    http::response<http::string_body> res{reply.status, req.version()};
    res.set(http::field::server, std::string("ugate/") + kVersion);
    res.set(http::field::content_type, reply.content_type);
    res.set(http::field::cache_control, "no-store");
    res.set("x-content-type-options", "nosniff");
    if (reply.content_type.starts_with("text/html")) res.set("content-security-policy", kPagePolicy);
    res.keep_alive(req.keep_alive());
    res.body() = std::move(reply.body);
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();
    auto [wec, wn] = co_await http::async_write(stream, res, use_nothrow);
    if (wec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

}  // namespace ugate

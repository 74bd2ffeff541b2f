#include "status_command.h"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "admin/status_text.h"
#include "base/endpoint.h"
#include "config/config.h"

namespace ugate {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kTimeout{5};

enum Exit { kReady = 0, kNotReady = 1, kUnreachable = 2 };

struct Reply {
  unsigned status = 0;
  std::string body;
  std::string error;  // why there is no reply
};

asio::awaitable<void> get(beast::tcp_stream& stream, tcp::resolver::results_type addresses, std::string host,
                          std::string target, Reply& out) {
  auto [cec, ep] = co_await stream.async_connect(addresses, use_nothrow);
  if (cec) {
    out.error = cec == asio::error::timed_out ? "no answer within 5 s" : cec.message();
    co_return;
  }
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "ugate-status");
  req.set(http::field::connection, "close");
  if (auto [ec, n] = co_await http::async_write(stream, req, use_nothrow); ec) {
    out.error = ec.message();
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow); ec) {
    out.error = ec == beast::error::timeout ? "no answer within 5 s" : ec.message();
    co_return;
  }
  out.status = parser.get().result_int();
  out.body = std::move(parser.get().body());
}

Reply http_get(const HostPort& admin, const std::string& target) {
  asio::io_context io;
  Reply reply;
  boost::system::error_code ec;
  auto addresses = tcp::resolver(io).resolve(admin.host, std::to_string(admin.port), ec);
  if (ec) return {0, "", "cannot resolve " + admin.host + ": " + ec.message()};
  beast::tcp_stream stream(io);
  stream.expires_after(kTimeout);
  asio::co_spawn(io, get(stream, addresses, admin.str(), target, reply), asio::detached);
  io.run();
  return reply;
}

// The address to ask: a wildcard bind address is asked on loopback.
std::optional<HostPort> admin_address(const std::string& flag, const Config& config, std::string* why) {
  std::optional<HostPort> a;
  if (!flag.empty()) {
    a = parse_host_port(flag, why);
    if (!a) return std::nullopt;
  } else if (!config.admin) {
    *why = "the config (" + config.source + ") turns the admin port off; name one with --admin HOST:PORT";
    return std::nullopt;
  } else {
    a = *config.admin;
  }
  if (a->port == 0) {
    *why = "the admin port is 0 (the kernel's pick): name it with --admin HOST:PORT (see --ports-file)";
    return std::nullopt;
  }
  if (a->host == "0.0.0.0" || a->host.empty()) a->host = "127.0.0.1";
  if (a->host == "::") a->host = "::1";
  return a;
}

}  // namespace

struct StatusCommand::Flags {
  std::string admin;
  bool json = false;
  bool watch = false;
  double interval = 2;
  unsigned count = 0;
};

StatusCommand::StatusCommand(CLI::App& app) : flags_(std::make_shared<Flags>()) {
  status_ = app.add_subcommand("status",
                               "Show a running node's summary from its admin port: state, identity, listeners, "
                               "nodes. Exit code 0 ready, 1 not ready, 2 not reachable");
  status_->add_option("--admin", flags_->admin,
                      "The admin address to ask (default: the config's admin address, 127.0.0.1:15000 without one)");
  status_->add_flag("--json", flags_->json, "Print GET /debug/status as it came (one line per draw with --watch)");
  status_->add_flag("--watch", flags_->watch, "Redraw until interrupted (Ctrl-C)");
  status_->add_option("--interval", flags_->interval, "Seconds between draws with --watch (default 2)")
      ->check(CLI::Range(0.1, 3600.0));
  status_->add_option("--count", flags_->count, "With --watch: stop after this many draws (default: never)");
}

int StatusCommand::run(const Config& config) {
  std::string why;
  auto admin = admin_address(flags_->admin, config, &why);
  if (!admin) {
    std::cerr << "ugate status: " << why << "\n";
    return kUnreachable;
  }
  const bool clear = flags_->watch && !flags_->json && isatty(STDOUT_FILENO);
  int code = kUnreachable;
  for (unsigned drawn = 0;;) {
    Reply r = http_get(*admin, "/debug/status");
    nlohmann::json status;
    if (r.error.empty() && r.status == 200) status = nlohmann::json::parse(r.body, nullptr, false);
    if (clear) std::cout << "\x1b[H\x1b[2J";
    if (!r.error.empty()) {
      std::cerr << "ugate status: cannot reach the admin port at " << admin->str() << ": " << r.error
                << ". Is ugate running? (--admin HOST:PORT or --config FILE names another node)\n";
      code = kUnreachable;
    } else if (r.status != 200 || !status.is_object()) {
      std::cerr << "ugate status: " << admin->str() << " answered "
                << (r.status != 200 ? "HTTP " + std::to_string(r.status) : std::string("with no JSON"))
                << " to GET /debug/status: is it a ugate admin port?\n";
      code = kUnreachable;
    } else {
      if (flags_->json) std::cout << status.dump(flags_->watch ? -1 : 2) << "\n";
      else std::cout << status_text(status);
      code = status.value("state", "") == "ready" ? kReady : kNotReady;
    }
    std::cout.flush();
    if (!flags_->watch || (flags_->count > 0 && ++drawn >= flags_->count)) return code;
    if (!flags_->json && !clear) std::cout << "\n";
    std::this_thread::sleep_for(std::chrono::duration<double>(flags_->interval));
  }
}

}  // namespace ugate

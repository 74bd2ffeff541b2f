#include "push_cli.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

namespace ugate::push_cli {

namespace asio = boost::asio;
using http_verb = boost::beast::http::verb;
using nlohmann::json;

json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Failure(path + ": cannot read");
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (!j.is_object()) throw Failure(path + ": not a JSON object");
  return j;
}

std::string string_at(const json& j, const char* key, const std::string& where) {
  const json* at = &j;
  std::string k(key);
  for (size_t dot; (dot = k.find('.')) != std::string::npos; k = k.substr(dot + 1)) {
    auto it = at->find(k.substr(0, dot));
    if (it == at->end()) throw Failure(where + ": missing " + key);
    at = &*it;
  }
  auto it = at->find(k);
  if (it == at->end() || !it->is_string()) throw Failure(where + ": missing " + key);
  return *it;
}

Bytes b64_at(const json& j, const char* key, const std::string& where) {
  auto b = base64url_decode(string_at(j, key, where));
  if (!b) throw Failure(where + ": " + key + " is not base64url");
  return *b;
}

void write_private_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw Failure(path + ": " + std::strerror(errno));
  ::fchmod(fd, 0600);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) throw Failure(path + ": write failed");
}

webpush::Url parse_url(const std::string& text, const std::string& what) {
  auto u = webpush::Url::parse(text);
  if (!u) throw Failure(what + ": expected an https:// URL, got '" + text + "'");
  return *u;
}

std::string join_path(const std::string& base, const std::string& path) {
  std::string b = base.substr(0, base.find('?'));
  while (!b.empty() && b.back() == '/') b.pop_back();
  return b + path;
}

asio::awaitable<Received> receive_messages(webpush::HttpsClient& client, const std::string& target,
                                           const std::string& ack_base, std::chrono::steady_clock::time_point deadline,
                                           const OnMessage& on_message) {
  constexpr std::chrono::seconds kAckTimeout{30};
  int64_t after = 0;
  asio::steady_timer backoff(co_await asio::this_coro::executor);
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - std::chrono::steady_clock::now());
    int64_t wait = std::clamp<int64_t>(left.count(), 1, 30);
    std::string poll = target + "?wait=" + std::to_string(wait) + "&after=" + std::to_string(after);
    webpush::HttpResult r = co_await client.request(http_verb::get, poll, {}, "", std::chrono::seconds(wait + 30));
    if (r.status == 404 || r.status == 410) {
      std::cerr << "ugate push: the mailbox is gone (" << r.status << " " << r.body << ")\n";
      co_return Received::kGone;
    }
    if (r.status != 200 && r.status != 204) {
      std::cerr << "ugate push: " << (r.status ? std::to_string(r.status) + " " + r.body : r.error) << "; retrying\n";
      backoff.expires_after(std::chrono::seconds(1));
      co_await backoff.async_wait(asio::use_awaitable);
      continue;
    }
    json batch = r.status == 200 ? json::parse(r.body, nullptr, false) : json();
    if (!batch.is_object() || !batch["messages"].is_array()) continue;
    for (const auto& m : batch["messages"]) {
      after = std::max<int64_t>(after, m.value("seq", int64_t{0}));
      std::string ack_body;
      Take take = on_message(m, ack_body);
      if (take == Take::kLeave) continue;
      std::string id = m.value("id", "");
      std::vector<std::pair<std::string, std::string>> headers;
      if (!ack_body.empty()) headers.emplace_back("Content-Type", "application/json");
      webpush::HttpResult a = co_await client.request(http_verb::delete_, ack_base + "/m/" + id, std::move(headers),
                                                      std::move(ack_body), kAckTimeout);
      if (a.status != 204 && a.status != 404) std::cerr << "ugate push: ack " << id << ": " << a.status << "\n";
      if (take == Take::kAckAndStop) co_return Received::kStopped;
    }
  }
  co_return Received::kTimedOut;
}

int run_receiver(asio::io_context& ctx, asio::awaitable<Received> receiver) {
  int exit_code = 1;
  asio::co_spawn(ctx, std::move(receiver), [&](std::exception_ptr e, Received r) {
    if (!e) {
      exit_code = r == Received::kStopped ? 0 : r == Received::kTimedOut ? 2 : 1;
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::cerr << "ugate push: " << ex.what() << "\n";
    }
  });
  ctx.run();
  return exit_code;
}

}  // namespace ugate::push_cli

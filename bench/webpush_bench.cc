// ugate-webpush-bench: the ugate side of bench/webpush_bench.py.
//
//   crypto SECONDS            RFC 8291 encryptions/s and decryptions/s on one thread, and the
//                             floor: the P-256 work alone that each one needs (JSON)
//   latency URL CA RATE N     push-to-delivery latency through a push service: subscribe, then
//                             push N messages at RATE/s (each stamped with its send time) while a
//                             long-poll receives, decrypts and acknowledges them; p50/p99 (JSON)
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <deque>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "crypto/p256.h"
#include "webpush/client.h"
#include "webpush/message.h"

using namespace ugate;
using namespace ugate::webpush;
using Clock = std::chrono::steady_clock;
using verb = boost::beast::http::verb;
using nlohmann::json;

namespace {

int crypto_bench(double seconds) {
  auto ua = SubscriberSecret::generate();
  std::string text(100, 'x');  // a typical small notification
  auto keys = ua.public_keys();
  auto measure = [&](auto op) {
    uint64_t n = 0;
    Clock::time_point start = Clock::now();
    Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (Clock::now() < end) {
      for (int i = 0; i < 16; ++i) op();
      n += 16;
    }
    return n / std::chrono::duration<double>(Clock::now() - start).count();
  };
  double enc = measure([&] {
    if (!encrypt_message(as_bytes(text), keys)) std::abort();
  });
  auto body = *encrypt_message(as_bytes(text), keys);
  double dec = measure([&] {
    if (!decrypt_message(body, ua)) std::abort();
  });
  // What no RFC 8291 implementation on OpenSSL's P-256 can skip: a sender makes a fresh key pair
  // and one ECDH per message, a receiver one ECDH. The rates of that alone bound any encryptor.
  crypto::Pkey peer = crypto::p256_public_from_raw(keys.p256dh);
  double enc_floor = measure([&] {
    crypto::Pkey mine = crypto::p256_generate();
    if (!mine || !crypto::p256_ecdh(mine.get(), peer.get())) std::abort();
  });
  crypto::Pkey sender = crypto::p256_generate();
  double dec_floor = measure([&] {
    if (!crypto::p256_ecdh(ua.key.get(), sender.get())) std::abort();
  });
  std::cout << json{{"encrypt_per_s", enc}, {"decrypt_per_s", dec}, {"encrypt_floor_per_s", enc_floor},
                    {"decrypt_floor_per_s", dec_floor}}
                   .dump()
            << "\n";
  return 0;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

constexpr int kSenders = 8;  // HTTP/1.1 connections pushing in parallel

int latency_bench(const std::string& url_text, const std::string& ca, double rate, size_t total) {
  auto service = Url::parse(url_text);
  if (!service) return 2;
  asio::io_context ctx;
  auto tls = make_client_tls(ca);
  auto ua = SubscriberSecret::generate();
  auto keys = ua.public_keys();
  std::string push_path, sub_path;
  std::vector<double> latencies_ms;
  size_t send_errors = 0, late_sends = 0;
  Clock::time_point last_send;
  bool done = false;
  std::deque<std::string> to_ack;
  asio::steady_timer ack_signal(ctx);

  auto subscribe = [&]() -> asio::awaitable<bool> {
    HttpsClient c(ctx, tls, *service);
    auto r = co_await c.request(verb::post, "/subscribe", {}, "", std::chrono::seconds(10));
    if (r.status != 201) co_return false;
    auto j = json::parse(r.body);
    push_path = "/p/" + j["endpoint"].get<std::string>().substr(j["endpoint"].get<std::string>().rfind('/') + 1);
    sub_path = "/s/" + j["subscription"].get<std::string>().substr(j["subscription"].get<std::string>().rfind('/') + 1);
    co_return true;
  };
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  Clock::time_point t0;
  size_t next = 0;
  auto sender = [&]() -> asio::awaitable<void> {
    HttpsClient c(ctx, tls, *service);
    asio::steady_timer timer(ctx);
    for (;;) {
      size_t i = next++;
      if (i >= total) co_return;
      auto due = t0 + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
      if (Clock::now() > due + std::chrono::milliseconds(1)) ++late_sends;
      timer.expires_at(due);
      co_await timer.async_wait(asio::use_awaitable);
      last_send = Clock::now();
      std::string stamp = std::to_string(last_send.time_since_epoch().count());
      auto body = encrypt_message(as_bytes(stamp), keys);
      std::vector<std::pair<std::string, std::string>> headers = {{"TTL", "60"}, {"Content-Encoding", "aes128gcm"}};
      auto r = co_await c.request(verb::post, push_path, std::move(headers), std::string(as_text(*body)),
                                  std::chrono::seconds(10));
      if (r.status != 201) ++send_errors;
    }
  };
  auto receiver = [&]() -> asio::awaitable<void> {
    HttpsClient c(ctx, tls, *service);
    int64_t after = 0;
    Clock::time_point deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(total / rate + 20));
    while (latencies_ms.size() + send_errors < total && Clock::now() < deadline) {
      auto r = co_await c.request(verb::get, sub_path + "?wait=5&after=" + std::to_string(after), {}, "",
                                  std::chrono::seconds(15));
      if (r.status != 200) continue;
      auto j = json::parse(r.body, nullptr, false);
      for (auto& m : j["messages"]) {
        after = std::max<int64_t>(after, m["seq"].get<int64_t>());
        auto plain = decrypt_message(*base64url_decode(m["data"].get<std::string>()), ua);
        if (!plain) continue;
        Clock::time_point sent{Clock::duration(std::stoll(std::string(as_text(*plain))))};
        latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
        to_ack.push_back(m["id"].get<std::string>());
      }
      ack_signal.cancel();
    }
    done = true;
    ack_signal.cancel();
  };
  auto acker = [&]() -> asio::awaitable<void> {
    HttpsClient c(ctx, tls, *service);
    while (!done || !to_ack.empty()) {
      if (to_ack.empty()) {
        ack_signal.expires_after(std::chrono::seconds(1));
        co_await ack_signal.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      std::string id = to_ack.front();
      to_ack.pop_front();
      co_await c.request(verb::delete_, "/m/" + id, {}, "", std::chrono::seconds(10));
    }
  };
  asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
    bool subscribed = co_await subscribe();  // not inside the if: see ARCHITECTURE.md, GCC 12
    if (!subscribed) {
      std::cerr << "subscribe failed\n";
      co_return;
    }
    t0 = Clock::now() + std::chrono::milliseconds(200);
    asio::co_spawn(ctx, receiver(), asio::detached);
    for (int i = 0; i < 2; ++i) asio::co_spawn(ctx, acker(), asio::detached);
    for (int i = 0; i < kSenders; ++i) asio::co_spawn(ctx, sender(), asio::detached);
  }, asio::detached);
  ctx.run();
  std::cout << json{{"sent", total - send_errors},   {"received", latencies_ms.size()},
                    {"send_errors", send_errors},    {"late_sends", late_sends},
                    {"rate", rate}, {"achieved_rate", (total - 1) / std::chrono::duration<double>(last_send - t0).count()},                  {"p50_ms", percentile(latencies_ms, 0.50)},
                    {"p99_ms", percentile(latencies_ms, 0.99)}, {"max_ms", percentile(latencies_ms, 1.0)}}
                   .dump()
            << "\n";
  return latencies_ms.size() == total ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "crypto" && argc == 3) return crypto_bench(std::stod(argv[2]));
  if (cmd == "latency" && argc == 6) return latency_bench(argv[2], argv[3], std::stod(argv[4]), std::stoul(argv[5]));
  std::cerr << "usage: ugate-webpush-bench crypto SECONDS | latency URL CA_FILE RATE COUNT\n";
  return 2;
}

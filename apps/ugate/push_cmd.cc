#include "push_cmd.h"

#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "crypto/p256.h"
#include "push_cli.h"
#include "webpush/client.h"
#include "webpush/message.h"
#include "webpush/vapid.h"

namespace ugate {

namespace asio = boost::asio;
using nlohmann::json;
using namespace push_cli;
using webpush::HttpResult;
using webpush::Url;
using http_verb = boost::beast::http::verb;
constexpr std::chrono::seconds kRequestTimeout{30};

PushCommand::PushCommand(CLI::App& app) {
  push_ = app.add_subcommand("push", "Web Push: keys, subscriptions, sending and receiving messages");
  push_->require_subcommand(1);

  vapid_keys_ = push_->add_subcommand("vapid-keys", "Print a new VAPID key pair as JSON {publicKey, privateKey}");

  subscribe_ = push_->add_subcommand(
      "subscribe", "Create a subscription on a push service; print its PushSubscription JSON (endpoint and keys)");
  subscribe_->add_option("--service", service_, "Push service URL, e.g. https://gateway:8443")->required();
  subscribe_->add_option("--save", save_, "Where the subscriber's private keys go (mode 0600)")
      ->capture_default_str();
  subscribe_->add_option("--vapid-public", vapid_public_,
                         "Restrict the subscription to this application server key (RFC 8292 section 4)");
  subscribe_->add_option("--cacert", cacert_, "Trust this CA file instead of the system roots");

  listen_ = push_->add_subcommand("listen", "Receive, decrypt and print messages; each is acknowledged");
  listen_->add_option("--subscriber", subscriber_, "The file `push subscribe --save` wrote")->capture_default_str();
  listen_->add_option("--count", count_, "Exit 0 after this many messages (0: run until stopped)");
  listen_->add_option("--timeout", timeout_, "Exit 1 after this many seconds (0: no limit)");
  listen_->add_flag("--json", json_, "One JSON object per message: id, topic, urgency, text (or error)");
  listen_->add_option("--cacert", cacert_, "Trust this CA file instead of the system roots");

  send_ = push_->add_subcommand("send", "Encrypt TEXT to a subscription (RFC 8291) and push it (RFC 8030)");
  send_->add_option("--to", to_, "PushSubscription JSON file (endpoint, keys.p256dh, keys.auth)")->required();
  send_->add_option("--ttl", ttl_, "Seconds the push service keeps the message")->capture_default_str();
  send_->add_option("--topic", topic_, "Replaces a pending message with the same topic");
  send_->add_option("--urgency", urgency_, "very-low, low, normal or high")
      ->check(CLI::IsMember({"very-low", "low", "normal", "high"}));
  send_->add_option("--vapid", vapid_file_, "VAPID key file (the JSON `push vapid-keys` prints)");
  send_->add_option("--subject", subject_, "VAPID contact, mailto: or https: URL");
  send_->add_option("--cacert", cacert_, "Trust this CA file instead of the system roots");
  send_->add_option("text", text_, "The message")->required();
}

int PushCommand::run() {
  try {
    if (vapid_keys_->parsed()) return vapid_keys();
    if (subscribe_->parsed()) return subscribe();
    if (listen_->parsed()) return listen();
    if (send_->parsed()) return send();
  } catch (const std::exception& e) {  // Failure, or a CA file OpenSSL could not load
    std::cerr << "ugate push: " << e.what() << "\n";
  }
  return 1;
}

int PushCommand::vapid_keys() {
  auto key = crypto::p256_generate();
  if (!key) throw Failure("cannot generate a key");
  std::cout << json{{"publicKey", base64url_encode(crypto::p256_public_raw(key.get()))},
                    {"privateKey", base64url_encode(crypto::p256_private_raw(key.get()))}}
                   .dump(2)
            << "\n";
  return 0;
}

int PushCommand::subscribe() {
  Url service = parse_url(service_, "--service");
  auto secret = webpush::SubscriberSecret::generate();
  if (!secret.key) throw Failure("cannot generate a key");
  auto keys = secret.public_keys();
  json options = {{"keys", {{"p256dh", base64url_encode(keys.p256dh)}, {"auth", base64url_encode(keys.auth)}}}};
  if (!vapid_public_.empty()) options["vapid"] = vapid_public_;

  auto tls = webpush::make_client_tls(cacert_);
  Url target = service;
  target.target = join_path(service.target, "/subscribe");
  HttpResult r = webpush::https_request(tls, target, http_verb::post,
                                        {{"Content-Type", "application/webpush-options+json"}}, options.dump(),
                                        kRequestTimeout);
  if (r.status != 201) throw Failure("subscribe: " + (r.status ? std::to_string(r.status) + " " + r.body : r.error));
  json created = json::parse(r.body, nullptr, false);
  if (!created.is_object()) throw Failure("subscribe: the service answered no JSON");
  json subscription = {{"endpoint", string_at(created, "endpoint", "reply")},
                       {"expirationTime", nullptr},
                       {"keys", options["keys"]}};
  json saved = subscription;
  saved["subscription"] = string_at(created, "subscription", "reply");
  saved["private_key"] = base64url_encode(crypto::p256_private_raw(secret.key.get()));
  write_private_file(save_, saved.dump(2) + "\n");
  std::cout << subscription.dump(2) << "\n";
  std::cerr << "ugate push: subscriber keys saved in " << save_ << "\n";
  // ugate's service also takes plain text at /publish/ (it encrypts to the keys above).
  std::string endpoint = subscription["endpoint"];
  if (auto at = endpoint.rfind("/p/"); at != std::string::npos)
    std::cerr << "ugate push: send text with: curl -d 'hello' " << endpoint.replace(at, 3, "/publish/") << "\n";
  return 0;
}

int PushCommand::listen() {
  json saved = read_json_file(subscriber_);
  webpush::SubscriberSecret me{crypto::p256_private_from_raw(b64_at(saved, "private_key", subscriber_)),
                               b64_at(saved, "keys.auth", subscriber_)};
  if (!me.key) throw Failure(subscriber_ + ": private_key is not a P-256 key");
  Url resource = parse_url(string_at(saved, "subscription", subscriber_), subscriber_);
  // Messages are acknowledged at BASE/m/ID, beside the subscription's BASE/s/ID.
  std::string base = resource.target.substr(0, resource.target.rfind("/s/"));
  auto tls = webpush::make_client_tls(cacert_);

  asio::io_context ctx;
  webpush::HttpsClient client(ctx, tls, resource);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_ ? timeout_ : 10u * 365 * 86400);
  unsigned received = 0, failed = 0;
  auto print = [&](const json& m, std::string& /*ack_body*/) {
    std::string id = m.value("id", "");
    auto data = base64url_decode(m.value("data", ""));
    auto plain = data ? webpush::decrypt_message(*data, me)
                      : Result<Bytes, webpush::EceError>(webpush::EceError::kTruncatedHeader);
    json out = {{"id", id}, {"urgency", m.value("urgency", "normal")}};
    if (m.contains("topic")) out["topic"] = m["topic"];
    if (plain) {
      out["text"] = std::string(as_text(*plain));
      if (json_) std::cout << out.dump() << std::endl;
      else std::cout << as_text(*plain) << std::endl;
    } else {
      ++failed;
      out["error"] = std::string(webpush::to_string(plain.error()));
      std::cerr << "ugate push: message " << id << ": " << webpush::to_string(plain.error()) << "\n";
      if (json_) std::cout << out.dump() << std::endl;
    }
    // Acknowledged either way: an undecryptable message would only come back.
    return count_ && ++received >= count_ ? Take::kAckAndStop : Take::kAck;
  };
  int exit_code = run_receiver(ctx, receive_messages(client, resource.target, base, deadline, print));
  if (exit_code == 0) return failed ? 1 : 0;
  if (exit_code == 2) std::cerr << "ugate push: timed out after " << timeout_ << " s\n";
  return 1;
}

int PushCommand::send() {
  json sub = read_json_file(to_);
  webpush::SubscriberKeys keys{b64_at(sub, "keys.p256dh", to_), b64_at(sub, "keys.auth", to_)};
  std::string endpoint = string_at(sub, "endpoint", to_);
  Url url = parse_url(endpoint, to_ + ": endpoint");
  auto body = webpush::encrypt_message(as_bytes(text_), keys);
  if (!body) throw Failure("encrypt: " + std::string(webpush::to_string(body.error())));

  std::vector<std::pair<std::string, std::string>> headers = {
      {"TTL", std::to_string(ttl_)}, {"Content-Encoding", "aes128gcm"}, {"Content-Type", "application/octet-stream"}};
  if (!topic_.empty()) headers.emplace_back("Topic", topic_);
  if (!urgency_.empty()) headers.emplace_back("Urgency", urgency_);
  if (!vapid_file_.empty()) {
    json v = read_json_file(vapid_file_);
    auto key = crypto::p256_private_from_raw(b64_at(v, "privateKey", vapid_file_));
    if (!key) throw Failure(vapid_file_ + ": privateKey is not a P-256 key");
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    auto auth = webpush::make_vapid_header(key.get(), *webpush::origin_of(endpoint), subject_,
                                           now.count() + webpush::kVapidDefaultLifetime);
    if (!auth) throw Failure("cannot sign the VAPID token");
    headers.emplace_back("Authorization", *auth);
  }
  auto tls = webpush::make_client_tls(cacert_);
  HttpResult r = webpush::https_request(tls, url, http_verb::post, std::move(headers),
                                        std::string(as_text(*body)), kRequestTimeout);
  if (r.status < 200 || r.status >= 300)
    throw Failure("send: " + (r.status ? std::to_string(r.status) + " " + r.body : r.error));
  std::cout << r.status << " " << r.headers["location"] << "\n";
  return 0;
}

}  // namespace ugate

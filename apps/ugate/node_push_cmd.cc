#include "node_push_cmd.h"

#include <sys/stat.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <iostream>
#include <map>

#include "identity/identity.h"
#include "identity/peer_chain.h"
#include "config/config.h"
#include "push_cli.h"
#include "webpush/node_envelope.h"
#include "webpush/node_keys.h"
#include "webpush/node_receipt.h"
#include "webpush/resource_id.h"
#include "webpush/seen_messages.h"

namespace ugate {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using namespace push_cli;
using http_verb = boost::beast::http::verb;
using webpush::HttpResult;
constexpr std::chrono::seconds kRequestTimeout{30};

// The node as the gateway and its peers see it: identity, the TLS context
// that presents its certificate, and its push key (made on first use).
struct Node {
  std::shared_ptr<const NodeIdentity> id;
  asio::ssl::context tls;
  webpush::SubscriberSecret push;
};

webpush::SubscriberSecret load_or_create_push_key(const std::string& state_dir) {
  std::string path = state_dir + "/push-key.json";
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    json saved = read_json_file(path);
    webpush::SubscriberSecret s{crypto::p256_private_from_raw(b64_at(saved, "private_key", path)),
                                b64_at(saved, "auth", path)};
    if (!s.key || s.auth.size() != webpush::kAuthSecretSize) throw Failure(path + ": not a push key");
    return s;
  }
  auto s = webpush::SubscriberSecret::generate();
  if (!s.key) throw Failure("cannot generate a key");
  write_private_file(path, json{{"private_key", base64url_encode(crypto::p256_private_raw(s.key.get()))},
                                {"auth", base64url_encode(s.auth)}}
                               .dump(2) + "\n");
  return s;
}

Node load_node(const Config& config, const std::string& cacert) {
  Node n{load_or_create_identity(config.identity, config.state_dir), webpush::make_client_tls(cacert), {}};
  if (n.id->node_id.empty()) throw Failure("the node's key is not EC P-256: it has no node ID");
  SSL_CTX* ctx = n.tls.native_handle();
  bool ok = SSL_CTX_use_certificate(ctx, n.id->chain.front().get()) == 1;
  for (size_t i = 1; ok && i < n.id->chain.size(); ++i) ok = SSL_CTX_add1_chain_cert(ctx, n.id->chain[i].get()) == 1;
  ok = ok && SSL_CTX_use_PrivateKey(ctx, n.id->key.get()) == 1;
  if (!ok) throw Failure("cannot use the node's certificate: " + ossl::last_error());
  n.push = load_or_create_push_key(config.state_dir);
  return n;
}

std::string failed(const char* what, const HttpResult& r) {
  return std::string(what) + ": " + (r.status ? std::to_string(r.status) + " " + r.body : r.error);
}

// PUT /node/keys: the push key, signed by the node's key, so the gateway has
// a mailbox for it and senders can check the keys are the node's.
asio::awaitable<void> register_keys(webpush::HttpsClient& client, const std::string& base, const Node& node) {
  auto keys = node.push.public_keys();
  Bytes sig = webpush::sign_node_keys(node.id->key.get(), node.id->node_id, keys);
  if (sig.empty()) throw Failure("cannot sign the push keys");
  json body = {{"p256dh", base64url_encode(keys.p256dh)}, {"auth", base64url_encode(keys.auth)},
               {"sig", base64url_encode(sig)}};
  // Named values only into the coroutine call (ARCHITECTURE.md, "Coroutines and GCC 12").
  std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}};
  HttpResult r = co_await client.request(http_verb::put, join_path(base, "/node/keys"), std::move(headers),
                                         body.dump(), kRequestTimeout);
  if (r.status != 200 && r.status != 201) throw Failure(failed("register keys", r));
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void print_line(bool as_json, const json& j, const std::string& text) {
  if (as_json) std::cout << j.dump() << std::endl;
  else std::cout << text << std::endl;
}

// The replay set the last run left (none on the first run).
webpush::SeenMessages load_seen(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return webpush::SeenMessages::from_json(read_json_file(path), now_ms());
}

// A node message as its receiver takes it: decrypted with our push key,
// then the sender's signed envelope checked against our roots, us, what the
// gateway claims, the time, and the messages taken before. nullopt and
// *error ("reason: detail") when any check fails.
std::optional<webpush::OpenedEnvelope> open_message(const json& m, const Node& node, const ChainVerifier& roots,
                                                    webpush::SeenMessages& seen, std::string* error) {
  auto data = base64url_decode(m.value("data", ""));
  auto plain = data ? webpush::decrypt_message(*data, node.push)
                    : Result<Bytes, webpush::EceError>(webpush::EceError::kTruncatedHeader);
  if (!plain) {
    *error = "undecryptable: " + std::string(webpush::to_string(plain.error()));
    return std::nullopt;
  }
  std::string from = m.value("from", ""), channel = m.value("channel", ""), detail;
  int64_t now = now_ms();
  webpush::EnvelopeContext context{node.id->node_id, from, channel, now};
  auto opened = webpush::open_envelope(*plain, roots, context, &detail);
  if (!opened) {
    *error = std::string(webpush::envelope_error_name(opened.error())) + ": " + detail;
    return std::nullopt;
  }
  if (!seen.first_time(opened->from, opened->fields.id, opened->fields.expires_ms, now)) {
    *error = "replayed: " + std::string(webpush::to_string(webpush::EnvelopeError::kReplayed));
    return std::nullopt;
  }
  return std::move(*opened);
}

}  // namespace

NodePushCommand::NodePushCommand(CLI::App& push) {
  const char* gateway_help = "The gateway's push service, e.g. https://gateway:8443";
  const char* cacert_help = "Trust this CA file for the gateway's certificate instead of the system roots";
  listen_ = push.add_subcommand(
      "node-listen",
      "Receive, decrypt and print messages for this node (its identity from --config/--state-dir), and receipts");
  listen_->add_option("--gateway", gateway_, gateway_help)->required();
  listen_->add_option("--cacert", cacert_, cacert_help);
  listen_->add_option("--channel", channels_, "Join these channels first (repeatable)");
  listen_->add_option("--count", count_, "Exit 0 after this many messages and receipts (0: run until stopped)");
  listen_->add_option("--timeout", timeout_, "Exit 1 after this many seconds (0: no limit)");
  listen_->add_flag("--json", json_,
                    "One JSON object per line: {id, from, spiffe_id, channel, text} as the sender signed them, "
                    "{id, error, gateway_from} for a message refused, or {receipt, gateway_from}");

  send_ = push.add_subcommand("node-send",
                              "Encrypt TEXT to a node (or each member of a channel) and send it through the gateway");
  send_->add_option("--gateway", gateway_, gateway_help)->required();
  send_->add_option("--cacert", cacert_, cacert_help);
  auto* to = send_->add_option("--to", to_, "The receiving node's ID (52 characters, as `ugate id` prints it)");
  auto* channel = send_->add_option("--channel", channel_, "Send to every node that joined this channel");
  to->excludes(channel);
  send_->add_option("--ttl", ttl_, "Seconds the gateway keeps the message")->capture_default_str();
  send_->add_option("--topic", topic_, "Replaces a pending message with the same topic");
  send_->add_option("--urgency", urgency_, "very-low, low, normal or high")
      ->check(CLI::IsMember({"very-low", "low", "normal", "high"}));
  send_->add_option("--receipt", receipt_, "Wait this many seconds for delivery receipts; exit 1 without them");
  send_->add_flag("--json", json_, "One JSON object per line: {sent, to} per message, {receipt, from} per receipt");
  send_->add_option("text", text_, "The message")->required();
}

int NodePushCommand::run(const Config& config) {
  try {
    if (listen_->parsed()) return listen(config);
    if (send_->parsed()) return send(config);
  } catch (const std::exception& e) {  // Failure, AuthError (identity), a CA file OpenSSL could not load
    std::cerr << "ugate push: " << e.what() << "\n";
  }
  return 1;
}

int NodePushCommand::listen(const Config& config) {
  Node node = load_node(config, cacert_);
  webpush::Url gateway = parse_url(gateway_, "--gateway");
  ChainVerifier roots(node.id->roots);
  std::string seen_path = config.state_dir + "/push-seen.json";
  webpush::SeenMessages seen = load_seen(seen_path);
  asio::io_context ctx;
  webpush::HttpsClient client(ctx, node.tls, gateway);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_ ? timeout_ : 10u * 365 * 86400);
  unsigned received = 0, refused = 0;
  auto print = [&](const json& m, std::string& ack_body) {
    json out = {{"id", m.value("id", "")}};
    std::string claimed_from = m.value("from", ""), channel = m.value("channel", "");
    if (m.contains("receipt")) {
      // Only the sender of that message can check the receiver's signature (node-send --receipt does):
      // here the receiver is what the gateway says.
      out["receipt"] = m["receipt"];
      out["gateway_from"] = claimed_from;
      print_line(json_, out,
                 "receipt: " + m.value("receipt", "") + " delivered to " + claimed_from + " (as the gateway says)");
    } else {
      std::string error;
      auto opened = open_message(m, node, roots, seen, &error);
      if (opened) {
        // Saved before the ack: a replay after a crash is caught too.
        write_private_file(seen_path, seen.to_json().dump() + "\n");
        out["from"] = opened->from;
        out["spiffe_id"] = opened->spiffe_id;
        if (!channel.empty()) out["channel"] = channel;
        out["text"] = std::string(as_text(opened->payload));
        print_line(json_, out, std::string(as_text(opened->payload)));
        ack_body = webpush::sign_receipt(node.id->key.get(), node.id->node_id, opened->from, opened->fields.id);
      } else {
        ++refused;  // acknowledged all the same, without a receipt: it would only come back
        out["error"] = error;
        out["gateway_from"] = claimed_from;
        std::cerr << "ugate push: message " << out["id"].get<std::string>() << " (the gateway says from "
                  << claimed_from << ") refused: " << error << "\n";
        if (json_) std::cout << out.dump() << std::endl;
      }
    }
    return count_ && ++received >= count_ ? Take::kAckAndStop : Take::kAck;
  };
  auto receiver = [&]() -> asio::awaitable<Received> {
    co_await register_keys(client, gateway.target, node);
    for (const std::string& c : channels_) {
      HttpResult r = co_await client.request(http_verb::put, join_path(gateway.target, "/node/channels/" + c), {},
                                             "", kRequestTimeout);
      if (r.status != 204) throw Failure(failed(("join channel " + c).c_str(), r));
    }
    std::cerr << "ugate push: node " << node.id->node_id << " listening at " << gateway.origin() << std::endl;
    co_return co_await receive_messages(client, join_path(gateway.target, "/node/inbox"), join_path(gateway.target, ""), deadline,
                                        print);
  };
  int exit_code = run_receiver(ctx, receiver());
  if (refused) std::cerr << "ugate push: " << refused << " message(s) refused\n";
  if (exit_code == 0) return refused ? 1 : 0;
  if (exit_code == 2) std::cerr << "ugate push: timed out after " << timeout_ << " s\n";
  return 1;
}

int NodePushCommand::send(const Config& config) {
  if (to_.empty() && channel_.empty()) throw Failure("node-send: name a node (--to) or a channel (--channel)");
  Node node = load_node(config, cacert_);
  webpush::Url gateway = parse_url(gateway_, "--gateway");
  ChainVerifier roots(node.id->roots);
  asio::io_context ctx;
  webpush::HttpsClient client(ctx, node.tls, gateway);
  // What each message sent waits for: a receipt that `to` signed for `id`.
  struct Sent {
    std::string to, id;
    ossl::PKey to_key;
  };
  std::map<std::string, Sent> waiting;  // by the gateway's message ID, until its receipt
  std::vector<Bytes> chain;             // ours, to sign into each message
  for (const auto& cert : node.id->chain) chain.push_back(to_der(cert.get()));
  unsigned failures = 0;

  auto sender = [&]() -> asio::awaitable<Received> {
    if (receipt_) co_await register_keys(client, gateway.target, node);  // receipts come to our mailbox
    // The recipients' key records, each verified: the gateway cannot swap keys.
    std::vector<json> records;
    std::string lookup = to_.empty() ? "/node/channels/" + channel_ : "/node/" + to_;
    HttpResult r = co_await client.request(http_verb::get, join_path(gateway.target, lookup), {}, "", kRequestTimeout);
    if (r.status != 200) throw Failure(failed(("look up " + (to_.empty() ? "channel " + channel_ : to_)).c_str(), r));
    json found = json::parse(r.body, nullptr, false);
    if (to_.empty() && found.is_object() && found["nodes"].is_array()) {
      for (auto& n : found["nodes"])
        if (n.value("node_id", "") != node.id->node_id) records.push_back(n);  // not to ourselves
    } else if (!to_.empty()) {
      records.push_back(found);
    }
    if (records.empty()) throw Failure("channel " + channel_ + " has no other members");

    std::vector<std::pair<std::string, std::string>> headers = {{"TTL", std::to_string(ttl_)},
                                                                {"Content-Encoding", "aes128gcm"},
                                                                {"Content-Type", "application/octet-stream"}};
    if (!topic_.empty()) headers.emplace_back("Topic", topic_);
    if (!urgency_.empty()) headers.emplace_back("Urgency", urgency_);
    std::string query = channel_.empty() ? "" : "?channel=" + channel_;
    for (const json& record : records) {
      std::string error;
      auto keys = webpush::verify_node_record(record, to_, roots, &error);
      if (!keys) {
        ++failures;
        std::cerr << "ugate push: not sent to " << record.value("node_id", "?") << ": " << error << "\n";
        continue;
      }
      int64_t now = now_ms();
      webpush::EnvelopeFields fields{keys->node_id, channel_, webpush::random_resource_id(), now,
                                     now + ttl_ * 1000LL};
      Bytes sealed = webpush::seal_envelope(node.id->key.get(), node.id->node_id, chain, fields, as_bytes(text_));
      if (sealed.empty()) throw Failure("cannot sign the message");
      auto body = webpush::encrypt_message(sealed, keys->keys);
      if (!body) throw Failure("encrypt: " + std::string(webpush::to_string(body.error())));
      HttpResult sent = co_await client.request(http_verb::post,
                                                join_path(gateway.target, "/node/" + keys->node_id) + query, headers,
                                                std::string(as_text(*body)), kRequestTimeout);
      if (sent.status != 201) {
        ++failures;
        std::cerr << "ugate push: " << failed(("send to " + keys->node_id).c_str(), sent) << "\n";
        continue;
      }
      std::string location = sent.headers["location"];
      size_t at = location.rfind("/m/");
      if (at == std::string::npos) throw Failure("send to " + keys->node_id + ": 201 without a /m/ Location");
      std::string id = location.substr(at + 3);
      waiting[id] = Sent{keys->node_id, fields.id, std::move(keys->node_key)};
      print_line(json_, {{"sent", id}, {"to", keys->node_id}}, "sent " + id + " to " + keys->node_id);
    }
    if (!receipt_ || waiting.empty()) co_return Received::kStopped;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(receipt_);
    co_return co_await receive_messages(
        client, join_path(gateway.target, "/node/inbox"), join_path(gateway.target, ""), deadline,
        [&](const json& m, std::string&) {
          std::string gateway_id = m.value("receipt", "");
          auto it = waiting.find(gateway_id);
          if (it == waiting.end()) return Take::kLeave;  // not a receipt of ours
          auto data = base64url_decode(m.value("data", ""));
          std::string error = "the receipt's data is not base64url";
          if (!data || !webpush::verify_receipt(*data, it->second.to_key.get(), it->second.to, node.id->node_id,
                                                it->second.id, &error)) {
            // The gateway's word only: dropped, and the message still waits for its receiver's receipt.
            std::cerr << "ugate push: receipt for " << gateway_id << " refused: " << error << "\n";
            return Take::kAck;
          }
          print_line(json_, {{"receipt", gateway_id}, {"from", it->second.to}},
                     "delivered " + gateway_id + " to " + it->second.to);
          waiting.erase(it);
          return waiting.empty() ? Take::kAckAndStop : Take::kAck;
        });
  };
  int exit_code = run_receiver(ctx, sender());
  for (const auto& [id, sent] : waiting)
    if (receipt_) std::cerr << "ugate push: no receipt for " << id << " within " << receipt_ << " s\n";
  return exit_code == 0 && failures == 0 ? 0 : 1;
}

}  // namespace ugate

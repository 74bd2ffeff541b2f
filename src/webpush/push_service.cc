#include "webpush/push_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

#include "crypto/p256.h"
#include "webpush/message.h"
#include "webpush/node_keys.h"
#include "webpush/node_receipt.h"
#include "webpush/resource_id.h"
#include "webpush/vapid.h"

namespace ugate::webpush {
namespace {

using nlohmann::json;

// TTL 0 means "now or never": kept only this long, for a subscriber already waiting.
constexpr int64_t kZeroTtlGraceMs = 2000;
constexpr size_t kMaxSubscribeBody = 4096;

std::optional<int64_t> parse_ttl(std::string_view text) {
  int64_t v = 0;
  if (text.empty() || text.size() > 10) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) return std::nullopt;
  return v;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

// "/p/ID" -> "ID" when path starts with prefix and the rest is an id.
std::optional<std::string> id_after(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix)) return std::nullopt;
  std::string_view id = path.substr(prefix.size());
  if (!valid_resource_id(id)) return std::nullopt;
  return std::string(id);
}

}  // namespace

std::string query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::string_view item = query.substr(0, query.find('&'));
    query = item.size() < query.size() ? query.substr(item.size() + 1) : std::string_view();
    if (item.size() > name.size() && item.starts_with(name) && item[name.size()] == '=')
      return std::string(item.substr(name.size() + 1));
  }
  return "";
}

std::optional<int64_t> query_number(std::string_view query, std::string_view name, std::string* error) {
  std::optional<std::string_view> value;  // the first `name=...` (or bare `name`)
  while (!query.empty() && !value) {
    std::string_view item = query.substr(0, query.find('&'));
    query = item.size() < query.size() ? query.substr(item.size() + 1) : std::string_view();
    if (item == name) value = std::string_view();
    else if (item.size() > name.size() && item.starts_with(name) && item[name.size()] == '=')
      value = item.substr(name.size() + 1);
  }
  if (!value) return std::nullopt;  // absent: the caller's default applies
  int64_t v = 0;
  const char* begin = value->data();
  const char* end = begin + value->size();
  auto [stop, ec] = std::from_chars(begin, end, v);
  if (ec == std::errc::result_out_of_range && stop == end) {
    *error = std::string(name) + ": out of range";
  } else if (value->empty() || ec != std::errc() || stop != end) {
    *error = std::string(name) + ": not a number";
  } else if (v < 0) {
    *error = std::string(name) + ": out of range";
  } else {
    return v;
  }
  return std::nullopt;
}

const char* reject_name(PushReject r) {
  switch (r) {
    case PushReject::kBadRequest: return "bad_request";
    case PushReject::kUnauthorized: return "unauthorized";
    case PushReject::kForbidden: return "forbidden";
    case PushReject::kNotFound: return "not_found";
    case PushReject::kGone: return "gone";
    case PushReject::kTooLarge: return "too_large";
    case PushReject::kTooMany: return "too_many";
    case PushReject::kUnsupported: return "unsupported";
    case PushReject::kStoreFailed: return "store_failed";
    case PushReject::kCount: break;
  }
  return "other";
}

PushService::PushService(asio::io_context& ctx, std::unique_ptr<PushStore> store, PushServiceConfig config)
    : ctx_(ctx), store_(std::move(store)), config_(std::move(config)), expiry_timer_(ctx) {
  // What expired while the gateway was down goes now; the rest when it is due.
  counters_.expired += store_->delete_expired(now_ms());
  if (auto next = store_->next_expiry_ms()) schedule_expiry(*next);
}

PushService::~PushService() = default;

int64_t PushService::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string PushService::origin(const PushRequest& req) const {
  if (!config_.public_url.empty()) return origin_of(config_.public_url).value_or(config_.public_url);
  return origin_of("https://" + req.host + "/").value_or("https://localhost");
}

PushReply PushService::refuse(PushReject why, int status, std::string text) {
  ++counters_.rejected[static_cast<size_t>(why)];
  return {status, std::move(text) + "\n"};
}

PushReply PushService::handle(const PushRequest& req) {
  const std::string& m = req.method;
  if (req.path == "/subscribe") {
    if (m != "POST") return refuse(PushReject::kBadRequest, 405, "use POST /subscribe");
    return subscribe(req);
  }
  if (auto id = id_after(req.path, "/p/")) {
    if (m != "POST") return refuse(PushReject::kBadRequest, 405, "use POST to push");
    return push(req, *id, false);
  }
  if (auto id = id_after(req.path, "/publish/")) {
    if (m != "POST" && m != "PUT") return refuse(PushReject::kBadRequest, 405, "use POST to publish");
    return push(req, *id, true);
  }
  if (auto id = id_after(req.path, "/m/")) {
    if (m != "DELETE") return refuse(PushReject::kBadRequest, 405, "use DELETE to acknowledge");
    return acknowledge(req, *id);
  }
  if (req.path.starts_with("/node/")) return handle_node(req);
  if (auto id = id_after(req.path, "/s/")) {
    if (m != "DELETE") return refuse(PushReject::kBadRequest, 405, "use GET to receive, DELETE to unsubscribe");
    if (!store_->delete_subscription(*id)) return refuse(PushReject::kNotFound, 404, "no such subscription");
    ++counters_.unsubscribed;
    notify(*id);  // waiting polls see it is gone
    return {204};
  }
  return refuse(PushReject::kNotFound, 404, "not found");
}

PushReply PushService::subscribe(const PushRequest& req) {
  StoredSubscription s{random_resource_id(), random_resource_id()};
  s.created_ms = now_ms();
  if (req.body.size() > kMaxSubscribeBody) return refuse(PushReject::kTooLarge, 413, "subscription request too large");
  if (!req.body.empty()) {
    // RFC 8292 section 4's {"vapid": KEY}, and optionally the subscriber's
    // keys {"keys": {"p256dh", "auth"}} so that /publish can encrypt to it.
    json j = json::parse(req.body, nullptr, false);
    if (!j.is_object()) return refuse(PushReject::kBadRequest, 400, "subscription options must be a JSON object");
    if (j.contains("vapid")) {
      auto key = base64url_field(j, "vapid");
      if (!key || !crypto::p256_public_from_raw(*key))
        return refuse(PushReject::kBadRequest, 400, "vapid must be a base64url P-256 public key");
      s.vapid_key = *key;
    }
    if (auto keys = j.find("keys"); keys != j.end()) {
      auto parsed = subscriber_keys_of(*keys);
      if (!parsed) return refuse(PushReject::kBadRequest, 400, "keys must hold a P-256 p256dh and a 16-octet auth");
      s.p256dh = std::move(parsed->p256dh);
      s.auth = std::move(parsed->auth);
    }
  }
  if (store_->subscription_count() >= config_.max_subscriptions)
    return refuse(PushReject::kTooMany, 429, "too many subscriptions");
  if (!store_->add_subscription(s)) return refuse(PushReject::kStoreFailed, 500, "cannot store the subscription");
  ++counters_.subscriptions_created;
  std::string base = origin(req);
  std::string endpoint = base + "/p/" + s.push_id;
  PushReply r{201, json{{"endpoint", endpoint}, {"subscription", base + "/s/" + s.id}}.dump() + "\n",
              "application/json"};
  r.headers = {{"Location", base + "/s/" + s.id}, {"Link", "<" + endpoint + ">; rel=\"urn:ietf:params:push\""}};
  return r;
}

PushReply PushService::push(const PushRequest& req, const std::string& push_id, bool publish) {
  auto sub = store_->subscription_by_push_id(push_id);
  if (!sub) return refuse(PushReject::kNotFound, 404, "no such subscription");
  if (sub->deleted) return refuse(PushReject::kGone, 410, "subscription expired or unsubscribed");

  // VAPID: checked whenever presented; required by a restricted subscription.
  if (!req.authorization.empty() || !sub->vapid_key.empty()) {
    auto id = verify_vapid(req.authorization, origin(req));
    if (!id) {
      PushReply r = refuse(PushReject::kUnauthorized, 401, to_string(id.error()));
      r.headers.emplace_back("WWW-Authenticate", "vapid");
      return r;
    }
    if (!sub->vapid_key.empty() && id->public_key != sub->vapid_key)
      return refuse(PushReject::kForbidden, 403, "subscription is restricted to another application server key");
  }
  return accept(req, *sub, publish, "", "");
}

PushReply PushService::accept(const PushRequest& req, const StoredSubscription& sub, bool publish, std::string sender,
                              std::string channel) {
  std::optional<int64_t> ttl = parse_ttl(req.ttl);
  if (req.ttl.empty() && publish) ttl = config_.default_ttl.count() / 1000;
  if (!ttl) return refuse(PushReject::kBadRequest, 400, "TTL header missing or not a number of seconds");
  *ttl = std::min<int64_t>(*ttl, config_.max_ttl.count() / 1000);
  Urgency urgency = Urgency::kNormal;
  if (!req.urgency.empty()) {
    auto u = parse_urgency(req.urgency);
    if (!u) return refuse(PushReject::kBadRequest, 400, "Urgency must be very-low, low, normal or high");
    urgency = *u;
  }
  if (!req.topic.empty() && (req.topic.size() > 32 || !std::all_of(req.topic.begin(), req.topic.end(), is_b64url_char)))
    return refuse(PushReject::kBadRequest, 400, "Topic must be at most 32 base64url characters");

  Bytes body(req.body.begin(), req.body.end());
  if (publish) {
    if (body.size() > kMaxPlaintextSize) return refuse(PushReject::kTooLarge, 413, "text too large");
    if (sub.p256dh.empty()) return refuse(PushReject::kBadRequest, 400, "subscription registered no keys to encrypt to");
    auto enc = encrypt_message(body, {sub.p256dh, sub.auth});
    if (!enc) return refuse(PushReject::kBadRequest, 400, std::string(to_string(enc.error())));
    body = std::move(*enc);
  } else if (!body.empty()) {
    if (body.size() > config_.max_message_size) return refuse(PushReject::kTooLarge, 413, "message too large");
    if (!iequals(req.content_encoding, "aes128gcm"))
      return refuse(PushReject::kUnsupported, 415, "Content-Encoding must be aes128gcm");
    auto header = parse_ece_header(body);
    if (!header || header->keyid.size() != crypto::kP256PublicSize || body.size() < header->size + kTagSize + 1)
      return refuse(PushReject::kBadRequest, 400, "body is not an aes128gcm Web Push message");
  }

  int64_t now = now_ms();
  StoredMessage msg{0,    random_resource_id(), sub.id, req.topic, urgency, now, now + *ttl * 1000, std::move(body),
                    std::move(sender), "", std::move(channel)};
  PushReply r{201};
  r.headers = {{"Location", origin(req) + "/m/" + msg.id}, {"TTL", std::to_string(*ttl)}};
  if (*ttl == 0) {
    auto it = waiters_.find(sub.id);
    bool someone_waits = it != waiters_.end() &&
                         std::any_of(it->second.begin(), it->second.end(), [](auto& w) { return !w.expired(); });
    if (!someone_waits) {
      ++counters_.dropped_ttl0;  // RFC 8030 section 5.2: not delivered, not an error
      return r;
    }
    msg.expires_ms = now + kZeroTtlGraceMs;
  }
  if (store_->pending_count(sub.id, now) >= config_.max_pending) {
    PushReply busy = refuse(PushReject::kTooMany, 429, "too many messages waiting for this subscriber");
    busy.headers.emplace_back("Retry-After", "10");
    return busy;
  }
  size_t replaced = 0;
  if (!store_->insert_message(msg, &replaced)) return refuse(PushReject::kStoreFailed, 500, "cannot store the message");
  ++counters_.accepted;
  if (!msg.sender.empty()) ++counters_.node_messages;
  counters_.replaced += replaced;
  schedule_expiry(msg.expires_ms);
  notify(sub.id);
  return r;
}

PushReply PushService::acknowledge(const PushRequest& req, const std::string& message_id) {
  auto msg = store_->message(message_id);
  if (!msg) return refuse(PushReject::kNotFound, 404, "no such message");
  // A node's message: only the node it went to acknowledges it, since that
  // is what the sender's receipt says.
  bool wants_receipt = !msg->sender.empty() && msg->receipt_for.empty();
  if (wants_receipt) {
    auto owner = store_->node_of_subscription(msg->subscription_id);
    if (!req.peer || !owner || *owner != req.peer->node_id)
      return refuse(PushReject::kForbidden, 403, "only the node a message went to acknowledges it");
    if (req.body.size() > kMaxReceiptBody) return refuse(PushReject::kTooLarge, 413, "receipt too large");
  }
  if (!store_->delete_message(message_id)) return refuse(PushReject::kNotFound, 404, "no such message");
  ++counters_.acked;
  if (wants_receipt) send_receipt(*msg, req.peer->node_id, Bytes(req.body.begin(), req.body.end()));
  return {204};
}

std::optional<StoredSubscription> PushService::receiver(const std::string& sub_id, PushReply* error) {
  auto sub = valid_resource_id(sub_id) ? store_->subscription(sub_id) : std::nullopt;
  if (!sub) *error = refuse(PushReject::kNotFound, 404, "no such subscription");
  else if (sub->deleted) *error = refuse(PushReject::kGone, 410, "subscription was deleted");
  else return sub;
  return std::nullopt;
}

std::vector<StoredMessage> PushService::pending(const std::string& sub_id, int64_t after_seq, Urgency min_urgency) {
  return store_->pending(sub_id, after_seq, now_ms(), min_urgency, 100);
}

std::shared_ptr<PushWaiter> PushService::watch(const std::string& sub_id) {
  auto w = std::make_shared<PushWaiter>(ctx_);
  auto& list = waiters_[sub_id];
  std::erase_if(list, [](auto& x) { return x.expired(); });
  list.push_back(w);
  return w;
}

void PushService::notify(const std::string& sub_id) {
  auto it = waiters_.find(sub_id);
  if (it == waiters_.end()) return;
  for (auto& weak : it->second) {
    if (auto w = weak.lock()) {
      w->notified = true;
      w->timer.cancel();
    }
  }
  waiters_.erase(it);  // each waiter is woken once; a new poll registers again
}

void PushService::schedule_expiry(int64_t at_ms) {
  if (expiry_at_ms_ != 0 && expiry_at_ms_ <= at_ms) return;
  expiry_at_ms_ = at_ms;
  expiry_timer_.expires_after(std::chrono::milliseconds(std::max<int64_t>(0, at_ms - now_ms())));
  expiry_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec != asio::error::operation_aborted) on_expiry_timer();
  });
}

void PushService::on_expiry_timer() {
  expiry_at_ms_ = 0;
  size_t n = store_->delete_expired(now_ms());
  counters_.expired += n;
  if (n) spdlog::debug("webpush: {} message(s) expired", n);
  if (auto next = store_->next_expiry_ms()) schedule_expiry(*next);
}

}  // namespace ugate::webpush

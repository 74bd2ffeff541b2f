// The push service's logic (RFC 8030) on an in-memory store, and its config.
#include "webpush/push_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "webpush/message.h"
#include "webpush/vapid.h"

namespace ugate::webpush {
namespace {

using ::testing::HasSubstr;

class PushServiceTest : public ::testing::Test {
 protected:
  asio::io_context ctx;
  std::unique_ptr<PushService> service;
  std::string sub_id, push_id;
  SubscriberSecret ua = SubscriberSecret::generate();

  void SetUp() override { start({.max_pending = 3}); }
  void start(PushServiceConfig config) {
    std::string error;
    auto store = PushStore::open(":memory:", &error);
    ASSERT_TRUE(store) << error;
    service = std::make_unique<PushService>(ctx, std::move(store), config);
    auto keys = ua.public_keys();
    nlohmann::json body = {{"keys", {{"p256dh", base64url_encode(keys.p256dh)}, {"auth", base64url_encode(keys.auth)}}}};
    PushReply r = service->handle({.method = "POST", .path = "/subscribe", .host = "push.test:8443", .body = body.dump()});
    ASSERT_EQ(r.status, 201) << r.body;
    auto j = nlohmann::json::parse(r.body);
    push_id = j["endpoint"].get<std::string>().substr(std::string("https://push.test:8443/p/").size());
    sub_id = j["subscription"].get<std::string>().substr(std::string("https://push.test:8443/s/").size());
  }
  PushReply push(std::string ttl, std::string body = "", std::string topic = "", std::string path_prefix = "/p/") {
    return service->handle({.method = "POST", .path = path_prefix + push_id, .host = "push.test:8443", .ttl = ttl,
                            .topic = topic, .content_encoding = body.empty() ? "" : "aes128gcm", .body = body});
  }
  std::string encrypted(std::string_view text) {
    auto b = encrypt_message(as_bytes(text), ua.public_keys());
    return std::string(as_text(*b));
  }
};

TEST(PushQuery, ValueByName) {
  EXPECT_EQ(query_value("wait=30&after=7", "after"), "7");
  EXPECT_EQ(query_value("wait=30&after=7", "wait"), "30");
  EXPECT_EQ(query_value("waiting=1&wait=2", "wait"), "2");
  EXPECT_EQ(query_value("channel=ops", "chan"), "");
  EXPECT_EQ(query_value("", "wait"), "");
  EXPECT_EQ(query_value("wait", "wait"), "");
}

// GET /s/ID?after=N&wait=N: a number that is there but malformed must be told
// from one that is absent (the long-poll answers 400 instead of taking 0).
TEST(PushServiceQuery, NumberAbsentMalformedOrOutOfRange) {
  struct Case {
    std::string query;
    std::optional<int64_t> value;
    std::string error;
  };
  const Case cases[] = {
      {"after=7", 7, ""},
      {"wait=30&after=0", 0, ""},
      {"after=007", 7, ""},
      {"after=9223372036854775807", INT64_MAX, ""},
      {"", std::nullopt, ""},                    // absent: the default applies
      {"wait=30", std::nullopt, ""},
      {"afterwards=1", std::nullopt, ""},
      {"after=abc", std::nullopt, "after: not a number"},
      {"after=", std::nullopt, "after: not a number"},
      {"after", std::nullopt, "after: not a number"},
      {"after=12abc", std::nullopt, "after: not a number"},
      {"after=1.5", std::nullopt, "after: not a number"},
      {"after=+1", std::nullopt, "after: not a number"},
      {"after=%201", std::nullopt, "after: not a number"},
      {"after=-", std::nullopt, "after: not a number"},
      {"after=99999999999999999999x", std::nullopt, "after: not a number"},
      {"after=9223372036854775808", std::nullopt, "after: out of range"},
      {"after=99999999999999999999999999", std::nullopt, "after: out of range"},
      {"after=-99999999999999999999999999", std::nullopt, "after: out of range"},
      {"after=-1", std::nullopt, "after: out of range"},
      {"after=x&after=1", std::nullopt, "after: not a number"},  // the first one counts
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_EQ(query_number(c.query, "after", &error), c.value) << c.query;
    EXPECT_EQ(error, c.error) << c.query;
  }
  std::string error;
  EXPECT_EQ(query_number("wait=soon&after=1", "wait", &error), std::nullopt);
  EXPECT_EQ(error, "wait: not a number");
}

TEST_F(PushServiceTest, PushStoresUntilAcknowledged) {
  PushReply r = push("60", encrypted("hi"));
  ASSERT_EQ(r.status, 201) << r.body;
  auto location = std::find_if(r.headers.begin(), r.headers.end(), [](auto& h) { return h.first == "Location"; });
  ASSERT_NE(location, r.headers.end());
  auto pending = service->pending(sub_id, 0, Urgency::kVeryLow);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(location->second, "https://push.test:8443/m/" + pending[0].id);
  EXPECT_EQ(std::string(as_text(*decrypt_message(pending[0].body, ua))), "hi");
  EXPECT_EQ(service->handle({.method = "DELETE", .path = "/m/" + pending[0].id}).status, 204);
  EXPECT_TRUE(service->pending(sub_id, 0, Urgency::kVeryLow).empty());
  EXPECT_EQ(service->counters().acked, 1u);
}

TEST_F(PushServiceTest, TopicReplacesAndLimitsApply) {
  ASSERT_EQ(push("60", "", "t").status, 201);
  ASSERT_EQ(push("60", "", "t").status, 201);
  EXPECT_EQ(service->counters().replaced, 1u);
  ASSERT_EQ(push("60").status, 201);
  ASSERT_EQ(push("60").status, 201);
  EXPECT_EQ(push("60").status, 429);  // max_pending 3
  EXPECT_EQ(push("").status, 400);
  EXPECT_EQ(push("60", std::string(4097, 'x')).status, 413);
  EXPECT_EQ(push("60", "not aes128gcm").status, 400);
}

TEST_F(PushServiceTest, UrgencyIsStoredAndFilters) {
  auto push_with = [&](std::string urgency) {
    return service->handle({.method = "POST", .path = "/p/" + push_id, .ttl = "60", .urgency = urgency}).status;
  };
  ASSERT_EQ(push_with("low"), 201);
  ASSERT_EQ(push_with("high"), 201);
  EXPECT_EQ(push_with("urgent"), 400);
  EXPECT_EQ(service->pending(sub_id, 0, Urgency::kVeryLow).size(), 2u);
  auto high = service->pending(sub_id, 0, Urgency::kHigh);  // RFC 8030 5.3: a subscriber asking for high only
  ASSERT_EQ(high.size(), 1u);
  EXPECT_EQ(high[0].urgency, Urgency::kHigh);
}

TEST_F(PushServiceTest, PublishEncryptsToTheRegisteredKeys) {
  PushReply r = push("", "plain text from a script", "", "/publish/");
  ASSERT_EQ(r.status, 201) << r.body;
  auto pending = service->pending(sub_id, 0, Urgency::kVeryLow);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(std::string(as_text(*decrypt_message(pending[0].body, ua))), "plain text from a script");
  EXPECT_EQ(push("", std::string(kMaxPlaintextSize + 1, 'x'), "", "/publish/").status, 413);
}

TEST_F(PushServiceTest, TtlZeroWithoutAWaitingSubscriberIsDropped) {
  EXPECT_EQ(push("0").status, 201);
  EXPECT_TRUE(service->pending(sub_id, 0, Urgency::kVeryLow).empty());
  auto waiter = service->watch(sub_id);
  EXPECT_EQ(push("0").status, 201);
  EXPECT_TRUE(waiter->notified);
  EXPECT_EQ(service->pending(sub_id, 0, Urgency::kVeryLow).size(), 1u);
}

TEST_F(PushServiceTest, UnsubscribeGivesGone) {
  EXPECT_EQ(service->handle({.method = "DELETE", .path = "/s/" + sub_id}).status, 204);
  EXPECT_EQ(push("60").status, 410);
  PushReply error;
  EXPECT_FALSE(service->receiver(sub_id, &error));
  EXPECT_EQ(error.status, 410);
  EXPECT_EQ(push("60", "", "", "/p/x").status, 404);
}

TEST_F(PushServiceTest, RestrictedSubscriptionNeedsItsVapidKey) {
  auto app_key = crypto::p256_generate();
  nlohmann::json body = {{"vapid", base64url_encode(crypto::p256_public_raw(app_key.get()))}};
  PushReply r = service->handle({.method = "POST", .path = "/subscribe", .host = "push.test:8443", .body = body.dump()});
  ASSERT_EQ(r.status, 201);
  push_id = nlohmann::json::parse(r.body)["endpoint"].get<std::string>().substr(25);
  EXPECT_EQ(push("60").status, 401);
  auto now = PushService::now_ms() / 1000;
  auto req = [&](EVP_PKEY* k, std::string aud) {
    return service->handle({.method = "POST", .path = "/p/" + push_id, .host = "push.test:8443", .ttl = "60",
                            .authorization = *make_vapid_header(k, aud, "mailto:a@b.c", now + 600)});
  };
  EXPECT_EQ(req(app_key.get(), "https://push.test:8443").status, 201);
  EXPECT_EQ(req(app_key.get(), "https://push.test").status, 401);
  auto other = crypto::p256_generate();
  EXPECT_EQ(req(other.get(), "https://push.test:8443").status, 403);
}

TEST(WebPushConfig, ParsesAndNamesErrors) {
  auto load = [](const std::string& yaml) { return load_config_text(yaml, "test.yaml", {}); };
  Config c = load(
      "state_dir: /tmp/s\nlisteners:\n  - name: push\n    address: 127.0.0.1:8443\n    protocol: webpush\n"
      "    tls: { cert: c.pem, key: k.pem }\n    webpush: { max_pending: 7, default_ttl: 2h }\n");
  ASSERT_TRUE(c.webpush.count(c.listeners[0].name));
  const WebPushConfig& w = c.webpush.at(c.listeners[0].name);
  EXPECT_EQ(w.service.max_pending, 7u);
  EXPECT_EQ(w.service.default_ttl, Duration(7'200'000));
  EXPECT_EQ(w.store, "/tmp/s/webpush-push.db");
  EXPECT_EQ(to_json(c)["listeners"][0]["webpush"]["max_pending"], 7);
  auto error_of = [&](const std::string& yaml) {
    try {
      load(yaml);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: webpush }\n"),
              HasSubstr("test.yaml:2: listeners[0]: a webpush listener needs 'tls: { cert: FILE, key: FILE }'"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: webpush, tls: { cert: c }, forward: 'b:1' }\n"),
              HasSubstr("listeners[0].forward: a webpush listener serves the push service itself"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: webpush, tls: { cert: c } }\n"),
              HasSubstr("listeners[0].tls: needs both cert and key"));
  EXPECT_THAT(
      error_of("listeners:\n  - { address: 'a:1', protocol: webpush, tls: { cert: c, key: k }, webpush: { max_message_size: 100 } }\n"),
      HasSubstr("listeners[0].webpush.max_message_size: RFC 8030 needs at least 4096"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', forward: 'b:1', tls: { cert: c, key: k } }\n"),
              HasSubstr("listeners[0].tls: only for protocol webpush"));
}

}  // namespace
}  // namespace ugate::webpush

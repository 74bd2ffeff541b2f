#include "identity/jwt.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "crypto/p256.h"

namespace ugate::jwt {
namespace {

constexpr int64_t kNow = 1'700'000'000;

class Jwt : public ::testing::Test {
 protected:
  crypto::Pkey key = crypto::p256_generate();
  crypto::Pkey other = crypto::p256_generate();
  Claims claims{"https://push.example.net", kNow + 3600, "mailto:ops@example.com"};
  VerifyOptions opts{.audience = "https://push.example.net", .now = kNow, .max_lifetime = 24 * 3600};

  std::string token() { return *sign_es256(claims, key.get()); }
  crypto::Pkey public_only(EVP_PKEY* k) { return crypto::p256_public_from_raw(crypto::p256_public_raw(k)); }
};

TEST_F(Jwt, RoundTrip) {
  std::string t = token();
  auto pub = public_only(key.get());
  auto r = verify_es256(t, pub.get(), opts);
  ASSERT_TRUE(r) << to_string(r.error());
  EXPECT_EQ(r->aud, claims.aud);
  EXPECT_EQ(r->exp, claims.exp);
  EXPECT_EQ(r->sub, claims.sub);
  // The header is the one RFC 8292 shows, and the signature is raw r||s.
  EXPECT_EQ(t.substr(0, t.find('.')), base64url_encode(std::string_view(R"({"typ":"JWT","alg":"ES256"})")));
  EXPECT_EQ(base64url_decode(t.substr(t.rfind('.') + 1))->size(), 64u);
}

TEST_F(Jwt, NodeIdClaimRoundTripsAndMustBeAString) {
  claims.node_id = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst";
  auto r = verify_es256(token(), key.get(), opts);
  ASSERT_TRUE(r) << to_string(r.error());
  EXPECT_EQ(r->node_id, claims.node_id);
  claims.node_id.clear();
  EXPECT_EQ(verify_es256(token(), key.get(), opts)->node_id, "");
  // {"node_id": 7} signed: malformed.
  std::string body = base64url_encode(std::string_view(R"({"aud":"https://push.example.net","exp":1700003600,"node_id":7})"));
  std::string input = base64url_encode(std::string_view(R"({"typ":"JWT","alg":"ES256"})")) + "." + body;
  auto sig = crypto::es256_sign(key.get(), as_bytes(input));
  EXPECT_EQ(verify_es256(input + "." + base64url_encode(*sig), key.get(), opts).error(), Error::kMalformed);
}

TEST_F(Jwt, WrongKey) {
  auto r = verify_es256(token(), other.get(), opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadSignature);
}

TEST_F(Jwt, Expired) {
  claims.exp = kNow;  // exp must be after now
  EXPECT_EQ(verify_es256(token(), key.get(), opts).error(), Error::kExpired);
  claims.exp = kNow - 1;
  EXPECT_EQ(verify_es256(token(), key.get(), opts).error(), Error::kExpired);
  opts.leeway = 5;  // clock skew allowance
  EXPECT_TRUE(verify_es256(token(), key.get(), opts));
}

TEST_F(Jwt, LifetimeAbove24HoursRefused) {
  claims.exp = kNow + 24 * 3600 + 1;
  EXPECT_EQ(verify_es256(token(), key.get(), opts).error(), Error::kLifetimeTooLong);
  claims.exp = kNow + 24 * 3600;
  EXPECT_TRUE(verify_es256(token(), key.get(), opts));
}

TEST_F(Jwt, WrongAudience) {
  claims.aud = "https://push.example.net:8443";
  EXPECT_EQ(verify_es256(token(), key.get(), opts).error(), Error::kWrongAudience);
}

TEST_F(Jwt, Subject) {
  opts.subject = "mailto:someone@else";
  EXPECT_EQ(verify_es256(token(), key.get(), opts).error(), Error::kWrongSubject);
  opts.subject.clear();
  opts.require_subject = true;
  claims.sub.clear();
  EXPECT_EQ(verify_es256(token(), key.get(), opts).error(), Error::kMissingSubject);
}

// Signs arbitrary header and payload text, to build tokens sign_es256 never makes.
std::string forge(EVP_PKEY* k, std::string_view header, std::string_view payload) {
  std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + base64url_encode(*crypto::es256_sign(k, as_bytes(input)));
}

TEST_F(Jwt, Malformed) {
  std::string t = token();
  for (std::string bad : {std::string(""), std::string("a.b"), t + ".x", std::string("...."),
                          std::string("!!!.") + t.substr(t.find('.') + 1),  // header not base64url
                          t.substr(0, t.rfind('.') + 1) + "@@"}) {         // signature not base64url
    auto r = verify_es256(bad, key.get(), opts);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error(), Error::kMalformed) << bad;
  }
  const std::string header = R"({"typ":"JWT","alg":"ES256"})";
  EXPECT_EQ(verify_es256(forge(key.get(), "[1]", "{}"), key.get(), opts).error(), Error::kMalformed);
  EXPECT_EQ(verify_es256(forge(key.get(), header, "not json"), key.get(), opts).error(), Error::kMalformed);
  EXPECT_EQ(verify_es256(forge(key.get(), header, R"({"aud":"x","exp":"soon"})"), key.get(), opts).error(),
            Error::kMalformed);
  EXPECT_EQ(verify_es256(forge(key.get(), header, R"({"aud":"https://push.example.net","exp":1700003600,"sub":7})"),
                         key.get(), opts)
                .error(),
            Error::kMalformed);
  EXPECT_EQ(verify_es256(std::string(kMaxTokenSize + 1, 'a'), key.get(), opts).error(), Error::kMalformed);
  // A bit flipped in the signature is a bad signature, not a crash.
  std::string flipped = t;
  flipped[t.rfind('.') + 5] ^= 1;
  EXPECT_FALSE(verify_es256(flipped, key.get(), opts));
}

TEST_F(Jwt, OnlyEs256) {
  std::string none = base64url_encode(std::string_view(R"({"alg":"none"})")) + "." +
                     base64url_encode(std::string_view(R"({"aud":"https://push.example.net","exp":1700003600})")) + ".";
  EXPECT_EQ(verify_es256(none, key.get(), opts).error(), Error::kUnsupportedAlgorithm);
  EXPECT_EQ(verify_es256(forge(key.get(), R"({"alg":"HS256"})", "{}"), key.get(), opts).error(),
            Error::kUnsupportedAlgorithm);
}

TEST_F(Jwt, AudienceArrayAndNotBefore) {
  std::string payload = nlohmann::json{{"aud", {"a", "https://push.example.net"}}, {"exp", kNow + 60}}.dump();
  EXPECT_TRUE(verify_es256(forge(key.get(), R"({"alg":"ES256"})", payload), key.get(), opts));
  payload = nlohmann::json{{"aud", "https://push.example.net"}, {"exp", kNow + 60}, {"nbf", kNow + 30}}.dump();
  EXPECT_EQ(verify_es256(forge(key.get(), R"({"alg":"ES256"})", payload), key.get(), opts).error(),
            Error::kNotYetValid);
}

// Dates at the ends of int64 (found by tests/fuzz/jwt_fuzz.cc): the leeway added to exp or taken
// from nbf overflowed, and an exp beyond INT64_MAX wrapped to a negative date.
TEST_F(Jwt, DatesAtTheEndsOfTheRange) {
  opts.leeway = 60;
  auto with = [&](const char* claims) {
    return verify_es256(forge(key.get(), R"({"alg":"ES256"})", claims), key.get(), opts);
  };
  const char* far = R"({"aud":"https://push.example.net","exp":9223372036854775807})";
  const char* beyond = R"({"aud":"https://push.example.net","exp":18446744073709551615})";
  EXPECT_EQ(with(far).error(), Error::kLifetimeTooLong);
  EXPECT_EQ(with(beyond).error(), Error::kLifetimeTooLong);  // not a date before 1970
  opts.max_lifetime = 0;
  ASSERT_TRUE(with(far));
  EXPECT_EQ(with(far)->exp, INT64_MAX);
  ASSERT_TRUE(with(beyond));
  EXPECT_EQ(with(beyond)->exp, INT64_MAX);
  EXPECT_EQ(with(R"({"aud":"https://push.example.net","exp":-9223372036854775807})").error(), Error::kExpired);
  EXPECT_TRUE(with(R"({"aud":"https://push.example.net","exp":1700000060,"nbf":-9223372036854775807})"));
  EXPECT_EQ(with(R"({"aud":"https://push.example.net","exp":1700000060,"nbf":9223372036854775807})").error(),
            Error::kNotYetValid);
}

TEST_F(Jwt, NotP256KeyRefused) {
  crypto::Pkey ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  EXPECT_FALSE(sign_es256(claims, ed.get()));
  EXPECT_EQ(verify_es256(token(), ed.get(), opts).error(), Error::kBadKey);
}

// RFC 7515 Appendix A.3: an ES256 JWS made by another implementation.
TEST(JwtInterop, Rfc7515AppendixA3) {
  auto x = *base64url_decode("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU");
  auto y = *base64url_decode("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
  Bytes point = {0x04};
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  auto pub = crypto::p256_public_from_raw(point);
  ASSERT_TRUE(pub);
  const std::string token =
      "eyJhbGciOiJFUzI1NiJ9"
      ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
      ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
  auto r = verify_es256(token, pub.get(), {.now = 1300819380 - 10});
  ASSERT_TRUE(r) << to_string(r.error());
  EXPECT_EQ(r->exp, 1300819380);
  EXPECT_EQ(verify_es256(token, pub.get(), {.now = 1300819380}).error(), Error::kExpired);
}

}  // namespace
}  // namespace ugate::jwt

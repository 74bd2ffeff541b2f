#include "webpush/vapid.h"

#include <gtest/gtest.h>

#include "crypto/p256.h"

namespace ugate::webpush {
namespace {

constexpr int64_t kNow = 1'700'000'000;

TEST(Vapid, OriginOfEndpoint) {
  EXPECT_EQ(*origin_of("https://push.example.net/p/abc?x=1"), "https://push.example.net");
  EXPECT_EQ(*origin_of("https://Push.Example.net:8443/p/abc"), "https://push.example.net:8443");
  EXPECT_EQ(*origin_of("https://push.example.net:443/p"), "https://push.example.net");
  EXPECT_EQ(*origin_of("http://127.0.0.1:80"), "http://127.0.0.1");
  EXPECT_EQ(*origin_of("https://[::1]:9443/p/x"), "https://[::1]:9443");
  EXPECT_FALSE(origin_of("push.example.net/p"));
  EXPECT_FALSE(origin_of("ftp://x/y"));
  EXPECT_FALSE(origin_of("https:///p"));
  EXPECT_FALSE(origin_of("https://user@host/p"));
}

TEST(Vapid, MadeHeaderVerifies) {
  auto key = crypto::p256_generate();
  auto header = make_vapid_header(key.get(), "https://push.example.net", "mailto:ops@example.com", kNow + 3600);
  ASSERT_TRUE(header);
  EXPECT_TRUE(header->starts_with("vapid t=ey"));
  auto id = verify_vapid(*header, "https://push.example.net", kNow);
  ASSERT_TRUE(id) << to_string(id.error());
  EXPECT_EQ(id->public_key, crypto::p256_public_raw(key.get()));
  EXPECT_EQ(id->claims.sub, "mailto:ops@example.com");
}

TEST(Vapid, RefusesWhatRfc8292Refuses) {
  auto key = crypto::p256_generate();
  auto other = crypto::p256_generate();
  const std::string aud = "https://push.example.net";
  auto header = [&](int64_t exp, EVP_PKEY* k = nullptr) {
    return *make_vapid_header(k ? k : key.get(), aud, "mailto:a@b.c", exp);
  };
  auto error = [&](std::string_view h, std::string_view audience = "https://push.example.net") {
    auto r = verify_vapid(h, audience, kNow);
    return r ? VapidFailure{} : r.error();
  };
  EXPECT_EQ(error("").error, VapidError::kMissing);
  EXPECT_EQ(error("Bearer abc").error, VapidError::kNotVapid);
  EXPECT_EQ(error("WebPush abc").error, VapidError::kNotVapid);
  EXPECT_EQ(error("vapid").error, VapidError::kMalformed);
  EXPECT_EQ(error("vapid t=abc").error, VapidError::kMalformed);
  EXPECT_EQ(error("vapid t=a, t=b, k=c").error, VapidError::kMalformed);
  EXPECT_EQ(error("vapid t=abc, k=notakey").error, VapidError::kBadKey);

  auto expired = error(header(kNow - 3600));
  EXPECT_EQ(expired.error, VapidError::kBadToken);
  EXPECT_EQ(expired.jwt, jwt::Error::kExpired);
  EXPECT_EQ(error(header(kNow + 25 * 3600)).jwt, jwt::Error::kLifetimeTooLong);
  EXPECT_TRUE(verify_vapid(header(kNow + 60, other.get()), aud, kNow));  // any key of its own: fine
  EXPECT_EQ(error(header(kNow + 60), "https://push.example.net:8443").jwt, jwt::Error::kWrongAudience);

  // A token signed by one key presented with another key's k=.
  std::string h = header(kNow + 60);
  std::string swapped = h.substr(0, h.find(", k=")) + ", k=" + base64url_encode(crypto::p256_public_raw(other.get()));
  EXPECT_EQ(error(swapped).jwt, jwt::Error::kBadSignature);
}

TEST(Vapid, ParameterSyntax) {
  auto key = crypto::p256_generate();
  std::string h = *make_vapid_header(key.get(), "https://p.test", "", kNow + 60);
  std::string t = h.substr(8, h.find(',') - 8);
  std::string k = h.substr(h.find("k=") + 2);
  for (std::string variant : {"vapid k=" + k + ", t=" + t, "VAPID  t=\"" + t + "\" ,k=" + k,
                              "vapid t=" + t + ",k=" + k + ", ext=1"}) {
    EXPECT_TRUE(verify_vapid(variant, "https://p.test", kNow)) << variant;
  }
}

// RFC 8292 section 2.4's example header, made by another implementation.
TEST(Vapid, Rfc8292Example) {
  const std::string header =
      "vapid t=eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJodHRwczovL3B1c2guZXhhbXBsZS5uZXQiLCJleHAiOjE0NTM1MjM3NjgsInN1YiI6Im1haWx0bzpwdXNoQGV4YW1wbGUuY29tIn0.i3CYb7t4xfxCDquptFOepC9GAu_HLGkMlMuCGSK2rpiUfnK9ojFwDXb1JrErtmysazNjjvW2L9OkSSHzvoD1oA, "
      "k=BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs";
  auto id = verify_vapid(header, "https://push.example.net", 1453523768 - 600);
  ASSERT_TRUE(id) << to_string(id.error());
  EXPECT_EQ(id->claims.sub, "mailto:push@example.com");
}

}  // namespace
}  // namespace ugate::webpush

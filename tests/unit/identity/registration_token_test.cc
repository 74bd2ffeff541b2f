// Reverse registration by token: the line before HTTP/2 and the checks a
// gateway makes of the JWT in it.
#include "identity/registration_token.h"

#include <gtest/gtest.h>

#include <chrono>

#include "identity/jwt.h"

namespace ugate {
namespace {

constexpr const char* kNode = "aaaabbbbccccddddeeeeffffgggghhhhiiiijjjjkkkkllllmmmm";

int64_t in(int64_t seconds) {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
             .count() +
         seconds;
}

class RegistrationToken : public ::testing::Test {
 protected:
  crypto::Pkey issuer = crypto::p256_generate(), stranger = crypto::p256_generate();
  RegistrationCheck check;
  jwt::Claims claims{"spiffe://mesh.test", in(3600), "spiffe://mesh.test/ns/default/sa/phone", kNode};

  void SetUp() override {
    check.issuers.push_back(crypto::p256_public_from_raw(crypto::p256_public_raw(stranger.get())));
    check.issuers.push_back(crypto::p256_public_from_raw(crypto::p256_public_raw(issuer.get())));
    check.trust_domain = "mesh.test";
    check.max_lifetime = std::chrono::hours(24);
  }
  std::optional<std::string> verify(EVP_PKEY* key, std::string* error, std::string node = kNode) {
    auto r = verify_registration_token(*jwt::sign_es256(claims, key), node, check);
    if (r) return *r;
    *error = to_string(r.error());
    return std::nullopt;
  }
};

TEST_F(RegistrationToken, GrantsTheSubjectToTheKeyItNames) {
  std::string error;
  auto granted = verify(issuer.get(), &error);
  ASSERT_TRUE(granted) << error;
  EXPECT_EQ(*granted, "spiffe://mesh.test/ns/default/sa/phone");
}

TEST_F(RegistrationToken, EachWrongClaimIsRefusedWithItsReason) {
  std::string error;
  EXPECT_FALSE(verify(issuer.get(), &error, "another-node"));
  EXPECT_NE(error.find("certificate's key is node another-node"), std::string::npos) << error;
  EXPECT_FALSE(verify(issuer.get(), &error, ""));
  EXPECT_NE(error.find("not EC P-256"), std::string::npos) << error;

  auto unknown = crypto::p256_generate();
  EXPECT_FALSE(verify(unknown.get(), &error));
  EXPECT_EQ(error, "signature does not verify");

  claims.exp = in(-120);  // beyond the minute of leeway
  EXPECT_FALSE(verify(issuer.get(), &error));
  EXPECT_EQ(error, jwt::to_string(jwt::Error::kExpired));
  claims.exp = in(48 * 3600);
  EXPECT_FALSE(verify(issuer.get(), &error));
  EXPECT_EQ(error, jwt::to_string(jwt::Error::kLifetimeTooLong));
  claims.exp = in(3600);

  claims.aud = "spiffe://other.test";
  EXPECT_FALSE(verify(issuer.get(), &error));
  EXPECT_EQ(error, jwt::to_string(jwt::Error::kWrongAudience));
  claims.aud = "spiffe://mesh.test";

  claims.sub = "spiffe://other.test/ns/default/sa/phone";
  EXPECT_FALSE(verify(issuer.get(), &error));
  EXPECT_NE(error.find("not a SPIFFE ID of trust domain mesh.test"), std::string::npos) << error;
  claims.sub = "";
  EXPECT_FALSE(verify(issuer.get(), &error));
  EXPECT_EQ(error, jwt::to_string(jwt::Error::kMissingSubject));

  check.issuers.clear();
  claims.sub = "spiffe://mesh.test/ns/default/sa/phone";
  EXPECT_FALSE(verify(issuer.get(), &error));
  EXPECT_EQ(error, "no token issuers configured");
}

TEST_F(RegistrationToken, TheLineBeforeHttp2) {
  std::string line = token_line("a.b.c");
  EXPECT_EQ(line, "UGATE-TOKEN a.b.c\r\n");
  for (size_t n = 0; n < line.size(); ++n) {
    auto r = parse_token_line(line.substr(0, n));
    EXPECT_FALSE(r) << n;
    EXPECT_TRUE(r.need_more()) << n << ": not bad";
  }
  EXPECT_EQ(*parse_token_line(line), "a.b.c");
  // HTTP/2 where the line should be (a node that speaks h2r on h2rt), or no end.
  auto bad = parse_token_line("PRI * HTTP/2.0");
  EXPECT_FALSE(bad);
  EXPECT_FALSE(bad.need_more());
  bad = parse_token_line("UGATE-TOKEN " + std::string(kMaxTokenLine, 'x'));
  EXPECT_FALSE(bad);
  EXPECT_FALSE(bad.need_more());
  EXPECT_EQ(to_string(bad.error()), "token line too long");
}

}  // namespace
}  // namespace ugate

// TURN's long-term credentials: nonces, listed users, the REST scheme.
#include "stun/turn_auth.h"

#include <gtest/gtest.h>

#include "stun/message.h"

namespace ugate::stun {
namespace {

TurnConfig config() {
  TurnConfig c;
  c.realm = "example.org";
  c.users = {{"alice", "wonderland"}};
  c.auth_secret = "0123456789abcdef";
  c.nonce_lifetime = Duration(10'000);
  return c;
}

TEST(TurnAuth, NonceIsValidUntilItsLifetimeEnds) {
  TurnAuth auth(config(), {1, 2, 3});
  std::string nonce = auth.make_nonce(5'000);
  EXPECT_EQ(auth.check_nonce(nonce, 5'000), NonceState::kValid);
  EXPECT_EQ(auth.check_nonce(nonce, 14'999), NonceState::kValid);
  EXPECT_EQ(auth.check_nonce(nonce, 15'000), NonceState::kStale);
}

TEST(TurnAuth, NonceOfAnotherSecretOrAlteredIsInvalid) {
  TurnAuth auth(config(), {1, 2, 3}), other(config(), {4, 5, 6});
  std::string nonce = other.make_nonce(5'000);
  EXPECT_EQ(auth.check_nonce(nonce, 5'000), NonceState::kInvalid);
  std::string mine = auth.make_nonce(5'000);
  mine[15] = mine[15] == '0' ? '1' : '0';  // another time, the same MAC
  EXPECT_EQ(auth.check_nonce(mine, 5'000), NonceState::kInvalid);
  EXPECT_EQ(auth.check_nonce("", 5'000), NonceState::kInvalid);
  EXPECT_EQ(auth.check_nonce(std::string(32, 'z'), 5'000), NonceState::kInvalid);
}

TEST(TurnAuth, ListedUserKeyIsMd5OfUserRealmPassword) {
  TurnAuth auth(config(), {1});
  auto key = auth.key("alice", 0);
  ASSERT_TRUE(key);
  EXPECT_EQ(*key, long_term_key("alice", "example.org", "wonderland"));
  EXPECT_FALSE(auth.key("bob", 0));
}

TEST(TurnAuth, RestPasswordIsBase64OfHmacSha1) {
  // python3: base64.b64encode(hmac.new(b'0123456789abcdef', b'4000000000:alice', hashlib.sha1).digest())
  EXPECT_EQ(rest_password("0123456789abcdef", "4000000000:alice"), "bVE2qDwRoSsipyuccy+CXfeQZXU=");
}

TEST(TurnAuth, RestUsernameExpires) {
  TurnAuth auth(config(), {1});
  auto key = auth.key("4000000000:alice", 3'999'999'999'000);
  ASSERT_TRUE(key);
  EXPECT_EQ(*key, long_term_key("4000000000:alice", "example.org", "bVE2qDwRoSsipyuccy+CXfeQZXU="));
  EXPECT_FALSE(auth.key("4000000000:alice", 4'000'000'000'000));  // expired
  EXPECT_FALSE(auth.key("soon:alice", 0));                           // no expiry
  EXPECT_TRUE(auth.key("4000000000", 0));                            // coturn takes a bare expiry too
}

TEST(TurnAuth, RestNeedsASecret) {
  TurnConfig c = config();
  c.auth_secret.clear();
  TurnAuth auth(c, {1});
  EXPECT_FALSE(auth.key("4000000000:alice", 0));
}

}  // namespace
}  // namespace ugate::stun

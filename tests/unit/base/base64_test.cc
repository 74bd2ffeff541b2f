#include "base/base64.h"

#include <gtest/gtest.h>

namespace ugate {
namespace {

std::string decode_text(std::string_view in) {
  auto b = base64url_decode(in);
  return b ? std::string(as_text(*b)) : std::string("<error>");
}

TEST(Base64Url, Rfc4648Vectors) {
  // RFC 4648 section 10, without padding (base64url never pads here).
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"},
      {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(base64url_encode(std::string_view(plain)), encoded);
    EXPECT_EQ(decode_text(encoded), plain);
  }
}

TEST(Base64Url, UrlAlphabetAndTolerances) {
  const Bytes b = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(base64url_encode(b), "-_-_");
  EXPECT_EQ(*base64url_decode("-_-_"), b);
  EXPECT_EQ(*base64url_decode("+/+/"), b);  // the standard alphabet is accepted
  EXPECT_EQ(decode_text("Zm8="), "fo");    // so is padding
}

TEST(Base64Url, RejectsGarbage) {
  EXPECT_FALSE(base64url_decode("Zm9v!"));
  EXPECT_FALSE(base64url_decode("Z"));      // no encoding has 4n+1 characters
  EXPECT_FALSE(base64url_decode("Zm=9v"));  // padding inside
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4)));
}

}  // namespace
}  // namespace ugate

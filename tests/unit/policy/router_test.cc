#include "policy/router.h"

#include <gtest/gtest.h>

namespace ugate {
namespace {

HostPort hp(std::string h, uint16_t p) { return HostPort{std::move(h), p}; }

Router make_router() {
  return Router({
      Route{{"", 0}, hp("default", 1)},
      Route{{"*.b.test", 0}, hp("wild-b", 2)},
      Route{{"*.x.b.test", 0}, hp("wild-xb", 3)},
      Route{{"a.test", 0}, hp("exact-a", 4)},
      Route{{"a.test", 8443}, hp("exact-a-8443", 5)},
      Route{{"", 9000}, hp("port-9000", 6)},
      Route{{"*.b.test", 444}, hp("wild-b-444", 7)},
  });
}

TEST(Router, ExactHostBeatsWildcardAndDefault) {
  Router r = make_router();
  EXPECT_EQ(r.match("a.test", 443)->forward.host, "exact-a");
  EXPECT_EQ(r.match("A.Test", 443)->forward.host, "exact-a") << "names are case-insensitive";
  EXPECT_EQ(r.match("a.test.", 443)->forward.host, "exact-a") << "a trailing dot is the same name";
}

TEST(Router, ExactHostWithPortBeatsExactHost) {
  EXPECT_EQ(make_router().match("a.test", 8443)->forward.host, "exact-a-8443");
}

TEST(Router, WildcardMatchesAnyDepthButNotTheSuffixItself) {
  Router r = make_router();
  EXPECT_EQ(r.match("c.b.test", 443)->forward.host, "wild-b");
  EXPECT_EQ(r.match("d.c.b.test", 443)->forward.host, "wild-b");
  EXPECT_EQ(r.match("b.test", 443)->forward.host, "default");
  EXPECT_EQ(r.match("xb.test", 443)->forward.host, "default") << "suffix match is on a label boundary";
}

TEST(Router, LongestWildcardWins) {
  EXPECT_EQ(make_router().match("y.x.b.test", 443)->forward.host, "wild-xb");
}

TEST(Router, WildcardWithPortBeatsWildcard) {
  EXPECT_EQ(make_router().match("c.b.test", 444)->forward.host, "wild-b-444");
}

TEST(Router, PortAloneBeatsDefault) {
  Router r = make_router();
  EXPECT_EQ(r.match("", 9000)->forward.host, "port-9000");
  EXPECT_EQ(r.match("unknown.test", 9000)->forward.host, "port-9000");
  EXPECT_EQ(r.match("", 1)->forward.host, "default");
}

TEST(Router, NoDefaultMeansNoMatch) {
  Router r({Route{{"a.test", 0}, hp("a", 1)}});
  EXPECT_EQ(r.match("other.test", 443), nullptr);
  EXPECT_EQ(r.match("", 443), nullptr);
}

TEST(Router, FirstOfEqualRoutesWins) {
  Router r({Route{{"a.test", 0}, hp("first", 1)}, Route{{"a.test", 0}, hp("second", 1)}});
  EXPECT_EQ(r.match("a.test", 1)->forward.host, "first");
}

TEST(Router, ValidatesPatterns) {
  EXPECT_EQ(Router::validate_pattern("a.test"), "");
  EXPECT_EQ(Router::validate_pattern("*.b.test"), "");
  EXPECT_NE(Router::validate_pattern("*"), "");
  EXPECT_NE(Router::validate_pattern("a.*.test"), "");
  EXPECT_NE(Router::validate_pattern("a b"), "");
  EXPECT_NE(Router::validate_pattern(""), "");
}

}  // namespace
}  // namespace ugate

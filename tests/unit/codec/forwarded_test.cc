// The Forwarded header as HBONE peers write it: ztunnel (no port), ugate
// (quoted with a port), Envoy-style %DOWNSTREAM_REMOTE_ADDRESS% (unquoted,
// with a port), and RFC 7239's own examples (sections 4, 6 and 7).
#include "codec/forwarded.h"

#include <gtest/gtest.h>

namespace ugate {
namespace {

// "address port" of the client the header names, or "none".
std::string client(std::string_view header) {
  auto c = forwarded_client(header);
  return c ? c->address().to_string() + " " + std::to_string(c->port()) : "none";
}

TEST(Forwarded, ZtunnelsFormHasNoPort) {
  EXPECT_EQ(client("for=10.0.0.5"), "10.0.0.5 0");
  EXPECT_EQ(client("for=\"[2001:db8::1]\""), "2001:db8::1 0");
  EXPECT_EQ(client("for=\"[::ffff:10.0.0.5]\""), "::ffff:10.0.0.5 0");
}

TEST(Forwarded, AddressesWithPortsQuotedOrNot) {
  EXPECT_EQ(client("for=\"10.0.0.5:4711\""), "10.0.0.5 4711");  // ugate's own
  EXPECT_EQ(client("for=\"[2001:db8::1]:4711\""), "2001:db8::1 4711");
  EXPECT_EQ(client("for=10.0.0.5:4711"), "10.0.0.5 4711");  // unquoted, as Envoy's address formatters give it
  EXPECT_EQ(client("for=[2001:db8::1]:4711"), "2001:db8::1 4711");
  EXPECT_EQ(client("for=2001:db8::1"), "2001:db8::1 0");  // unbracketed: only a whole address can be meant
}

TEST(Forwarded, Rfc7239Examples) {
  EXPECT_EQ(client("for=\"_gazonk\""), "none");
  EXPECT_EQ(client("For=\"[2001:db8:cafe::17]:4711\""), "2001:db8:cafe::17 4711");
  EXPECT_EQ(client("for=192.0.2.60;proto=http;by=203.0.113.43"), "192.0.2.60 0");
  EXPECT_EQ(client("for=192.0.2.43, for=198.51.100.17"), "192.0.2.43 0");
  EXPECT_EQ(client("for=192.0.2.43,for=\"[2001:db8:cafe::17]\",for=unknown"), "192.0.2.43 0");
}

TEST(Forwarded, TheFirstElementIsTheClientEvenWhenItIsHidden) {
  // Unknown or obfuscated identifiers say the client is not known: a later
  // element would name a proxy, so none is taken.
  for (const char* h : {"for=unknown", "for=\"unknown:1234\"", "for=_hidden", "for=\"_SEVKISEK:4711\"",
                        "for=unknown, for=10.0.0.8", "for=_hidden;proto=https, for=\"10.0.0.8:1\""})
    EXPECT_EQ(client(h), "none") << h;
  // An element without `for` does not name the client either.
  EXPECT_EQ(client("proto=https;by=10.0.0.1, for=10.0.0.2"), "none");
  // An obfuscated port leaves a known address with an unknown port.
  EXPECT_EQ(client("for=\"192.0.2.43:_abc\""), "192.0.2.43 0");
}

TEST(Forwarded, SeveralPairsWhitespaceQuotedSeparatorsAndEmptyElements) {
  EXPECT_EQ(client("proto=https;for=10.0.0.5;by=_gw;host=\"a.example\""), "10.0.0.5 0");
  EXPECT_EQ(client("for=10.0.0.5 ; proto=http , for=10.0.0.6"), "10.0.0.5 0");
  EXPECT_EQ(client(", ,for=10.0.0.5"), "10.0.0.5 0");
  EXPECT_EQ(client("by=\"a,b;c\";for=\"10.0.0.5:1\""), "10.0.0.5 1");  // "," and ";" inside a quoted-string
  EXPECT_EQ(client("host=\"x\\\"y\";for=10.0.0.5"), "10.0.0.5 0");      // an escaped quote
  EXPECT_EQ(client("proto=http;;for=10.0.0.5"), "10.0.0.5 0");          // an empty pair
}

TEST(Forwarded, MalformedHeadersNameNobody) {
  for (const char* h : {"", "for", "for=", "for=\"10.0.0.5", "for=10.0.0.5;for=10.0.0.6", "for=10.0.0.5 junk",
                        "=10.0.0.5", "for=\"10.0.0.5:99999\"", "for=\"10.0.0.5:\"", "for=\"10.0.0.5:-1\"",
                        "for=\"[2001:db8::1\"", "for=\"[2001:db8::1]x\"", "for=\"[10.0.0.5]\"", "for=010.0.0.5",
                        "for=example.com", "for=\"10.0.0.5\x01\""})
    EXPECT_EQ(client(h), "none") << h;
}

}  // namespace
}  // namespace ugate

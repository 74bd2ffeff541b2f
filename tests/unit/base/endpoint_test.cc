#include <gtest/gtest.h>

#include "base/duration.h"
#include "base/endpoint.h"

namespace ugate {
namespace {

TEST(HostPort, ParsesNamesIpv4AndBracketedIpv6) {
  auto a = parse_host_port("example.internal:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "example.internal");
  EXPECT_EQ(a->port, 8080);
  auto b = parse_host_port("127.0.0.1:1");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->str(), "127.0.0.1:1");
  auto c = parse_host_port("[::1]:443");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->str(), "[::1]:443");
}

TEST(HostPort, RejectsBadInputWithAReason) {
  std::string why;
  EXPECT_FALSE(parse_host_port("nohost", &why));
  EXPECT_NE(why.find("HOST:PORT"), std::string::npos);
  EXPECT_FALSE(parse_host_port("a:99999", &why));
  EXPECT_NE(why.find("invalid port"), std::string::npos);
  EXPECT_FALSE(parse_host_port("a:", &why));
  EXPECT_FALSE(parse_host_port(":80", &why));
  EXPECT_FALSE(parse_host_port("::1:80", &why));
  EXPECT_NE(why.find("brackets"), std::string::npos);
  EXPECT_FALSE(parse_host_port("[::1]80", &why));
  EXPECT_FALSE(parse_host_port("[zz]:80", &why));
  EXPECT_FALSE(parse_host_port("a b:80", &why));
  EXPECT_FALSE(parse_host_port("a:0", &why));
  EXPECT_TRUE(parse_host_port("a:0", &why, /*allow_zero=*/true));
}

TEST(UnixAddress, PathsAndAbstractNames) {
  auto file = parse_unix_address("unix:/run/ugate/app.sock");
  ASSERT_TRUE(file);
  EXPECT_TRUE(file->unix_socket);
  EXPECT_EQ(file->host, "/run/ugate/app.sock");
  EXPECT_EQ(file->port, 0);
  EXPECT_EQ(file->str(), "unix:/run/ugate/app.sock");
  EXPECT_FALSE(file->empty());
  auto abstract = parse_unix_address("unix:@ugate-app");
  ASSERT_TRUE(abstract);
  EXPECT_EQ(abstract->host, "@ugate-app");
  EXPECT_EQ(abstract->str(), "unix:@ugate-app");
  EXPECT_NE(*file, (HostPort{"/run/ugate/app.sock", 0})) << "a host named like a path is not the socket";
  EXPECT_TRUE(HostPort{}.empty());

  std::string why;
  EXPECT_FALSE(parse_unix_address("unix:", &why));
  EXPECT_EQ(why, "empty Unix socket path");
  EXPECT_FALSE(parse_unix_address("unix:run/app.sock", &why));
  EXPECT_NE(why.find("must be absolute"), std::string::npos);
  EXPECT_FALSE(parse_unix_address("unix:@", &why));
  EXPECT_NE(why.find("empty abstract"), std::string::npos);
  EXPECT_FALSE(parse_unix_address("unix:/run/", &why));
  EXPECT_FALSE(parse_unix_address(std::string("unix:/a\0b", 9), &why));
  EXPECT_NE(why.find("NUL"), std::string::npos);
  EXPECT_TRUE(parse_unix_address("unix:/" + std::string(106, 'a')));
  EXPECT_FALSE(parse_unix_address("unix:/" + std::string(107, 'a'), &why));
  EXPECT_NE(why.find("longer than 107"), std::string::npos);
  EXPECT_FALSE(parse_unix_address("/run/app.sock", &why));
  EXPECT_FALSE(parse_host_port("unix:/run/app.sock")) << "HOST:PORT never reads as a Unix socket";
}

TEST(Duration, ParsesUnitsAndBareSeconds) {
  EXPECT_EQ(parse_duration("250ms"), Duration(250));
  EXPECT_EQ(parse_duration("5s"), Duration(5000));
  EXPECT_EQ(parse_duration("2m"), Duration(120000));
  EXPECT_EQ(parse_duration("1h"), Duration(3600000));
  EXPECT_EQ(parse_duration("7"), Duration(7000));
  EXPECT_FALSE(parse_duration("5x"));
  EXPECT_FALSE(parse_duration("s"));
  EXPECT_FALSE(parse_duration("-1s"));
  EXPECT_FALSE(parse_duration(""));
}

TEST(Duration, FormatsTheShortestExactForm) {
  EXPECT_EQ(format_duration(Duration(3600000)), "1h");
  EXPECT_EQ(format_duration(Duration(120000)), "2m");
  EXPECT_EQ(format_duration(Duration(5000)), "5s");
  EXPECT_EQ(format_duration(Duration(1500)), "1500ms");
  EXPECT_EQ(format_duration(Duration(0)), "0s");
}

}  // namespace
}  // namespace ugate

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "runtime/access_log.h"

namespace ugate {
namespace {

StreamMeta sample() {
  StreamMeta m;
  m.id = 42;
  m.listener = "web";
  m.protocol = "auto";
  m.sniffed = "socks5";
  m.source = TcpEndpoint(boost::asio::ip::make_address("127.0.0.1"), 5555);
  m.destination = HostPort{"example.internal", 8080};
  m.upstream = TcpEndpoint(boost::asio::ip::make_address("10.1.2.3"), 8080);
  m.original_dst = TcpEndpoint(boost::asio::ip::make_address("fd00::7"), 80);
  m.start_mono = std::chrono::steady_clock::now();
  m.bytes_up = 100;
  m.bytes_down = 2000;
  m.mode = ProxyMode::kSplice;
  m.reason = CloseReason::kUpstreamReset;
  return m;
}

TEST(AccessLog, TextLineHasEveryField) {
  std::string line;
  format_access_line(line, sample(), AccessLogConfig::Format::kText);
  for (const char* part : {" id=42 ", " listener=web ", " protocol=auto ", " sniffed=socks5 ",
                           " src=127.0.0.1:5555 ",
                           " dst=example.internal:8080 ", " orig_dst=[fd00::7]:80 ", " upstream=10.1.2.3:8080 ",
                           " mode=splice ", " bytes_up=100 ", " bytes_down=2000 ", " result=upstream_reset"})
    EXPECT_NE(line.find(part), std::string::npos) << part << " in " << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(AccessLog, JsonLineParsesAndEscapes) {
  StreamMeta m = sample();
  m.destination.host = "evil\"\n.host";
  std::string line;
  format_access_line(line, m, AccessLogConfig::Format::kJson);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["id"], 42);
  EXPECT_EQ(j["dst"], "evil\"\n.host:8080");
  EXPECT_EQ(j["bytes_down"], 2000);
  EXPECT_EQ(j["result"], "upstream_reset");
  EXPECT_EQ(j["mode"], "splice");
  EXPECT_EQ(j["orig_dst"], "[fd00::7]:80");
  EXPECT_EQ(j["sniffed"], "socks5");
}

TEST(AccessLog, PeerIdentityIsTheConnectionsSharedOne) {
  auto peer = std::make_shared<const PeerIdentity>(PeerIdentity{"spiffe://mesh.test/ns/default/sa/a", "nodea"});
  StreamMeta one = sample(), two = sample();
  one.peer = two.peer = peer;  // two streams on one connection: one identity, no copies
  EXPECT_EQ(one.peer_spiffe().data(), two.peer_spiffe().data());
  std::string line;
  format_access_line(line, two, AccessLogConfig::Format::kJson);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["peer_spiffe"], "spiffe://mesh.test/ns/default/sa/a");
  EXPECT_EQ(j["peer_node"], "nodea");
  EXPECT_EQ(sample().peer_spiffe(), "") << "no proven peer";
}

TEST(RecordedHeaders, PackedPairsFoundAndListedInOrder) {
  RecordedHeaders h;
  EXPECT_TRUE(h.empty());
  EXPECT_FALSE(h.find("forwarded"));
  h.add("forwarded", "for=\"10.0.0.1:5\"");
  h.add("baggage", "");  // an empty value is a value
  h.add("traceparent", "00-abc-def-01");
  h.shrink();
  EXPECT_EQ(h.find("forwarded"), "for=\"10.0.0.1:5\"");
  EXPECT_EQ(h.find("baggage"), "");
  EXPECT_EQ(h.find("traceparent"), "00-abc-def-01");
  EXPECT_FALSE(h.find("forward")) << "whole names only";
  std::vector<std::string> listed;
  h.for_each([&](std::string_view n, std::string_view v) { listed.push_back(std::string(n) + "=" + std::string(v)); });
  EXPECT_EQ(listed, (std::vector<std::string>{"forwarded=for=\"10.0.0.1:5\"", "baggage=", "traceparent=00-abc-def-01"}));

  StreamMeta m = sample();
  m.headers = {{"traceparent", "00-1-2-01"}};
  nlohmann::json j;
  describe_meta(m, "proxying", 0, j);
  EXPECT_EQ(j["headers"], (nlohmann::json{{"traceparent", "00-1-2-01"}}));
}

TEST(AccessLog, UnknownValuesAreDashesInText) {
  StreamMeta m;
  m.listener = "web";
  m.protocol = "tcp";
  std::string line;
  format_access_line(line, m, AccessLogConfig::Format::kText);
  EXPECT_NE(line.find(" upstream=- "), std::string::npos) << line;
  EXPECT_NE(line.find(" dst=- "), std::string::npos) << line;
  EXPECT_NE(line.find(" orig_dst=- "), std::string::npos) << line;
  EXPECT_NE(line.find(" protocol=tcp sniffed=- "), std::string::npos) << line;
}

}  // namespace
}  // namespace ugate

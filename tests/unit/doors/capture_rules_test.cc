#include "doors/capture_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ugate::capture {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::vector<std::string> strings(const std::vector<Command>& commands) {
  std::vector<std::string> out;
  for (const auto& c : commands) out.push_back(to_string(c));
  return out;
}

TEST(CaptureRules, PortListsAndRanges) {
  std::vector<std::string> ports;
  std::string why;
  ASSERT_TRUE(parse_ports("80,443,,8000-8100,9000:9001", ports, why));
  EXPECT_EQ(ports, (std::vector<std::string>{"80", "443", "8000:8100", "9000:9001"}));
  for (const char* bad : {"0", "65536", "http", "90-80", "1-", "-5", "80 "}) {
    ports.clear();
    EXPECT_FALSE(parse_ports(bad, ports, why)) << bad;
    EXPECT_THAT(why, HasSubstr("is not a port")) << bad;
  }
}

TEST(CaptureRules, OutboundNeedsTheOwnerExclusion) {
  Options o;
  EXPECT_THAT(validate(o), HasSubstr("give --uid or --gid"));
  o.gids = {1337};
  EXPECT_EQ(validate(o), "");
  o.route_table = 254;
  EXPECT_THAT(validate(o), HasSubstr("reserved"));
  Options in;
  in.outbound = false;
  in.inbound = true;
  EXPECT_EQ(validate(in), "") << "PREROUTING does not see ugate's own connections";
  in.inbound = false;
  EXPECT_THAT(validate(in), HasSubstr("nothing to capture"));
}

TEST(CaptureRules, OutboundRedirectChains) {
  Options o;
  o.uids = {1337};
  o.gids = {1338};
  o.exclude_ports = {"22"};
  o.include_ports = {"80", "8000:8100"};
  o.outbound_port = 20001;
  auto v6 = strings(install_commands(o, Family::kIpv6));
  EXPECT_EQ(v6, (std::vector<std::string>{
                    "ip6tables -w -t nat -N UGATE_REDIRECT",
                    "ip6tables -w -t nat -A UGATE_REDIRECT -p tcp -j REDIRECT --to-ports 20001",
                    "ip6tables -w -t nat -N UGATE_OUTPUT",
                    "ip6tables -w -t nat -A UGATE_OUTPUT -o lo -j RETURN",
                    "ip6tables -w -t nat -A UGATE_OUTPUT -m owner --uid-owner 1337 -j RETURN",
                    "ip6tables -w -t nat -A UGATE_OUTPUT -m owner --gid-owner 1338 -j RETURN",
                    "ip6tables -w -t nat -A UGATE_OUTPUT -p tcp --dport 22 -j RETURN",
                    "ip6tables -w -t nat -A UGATE_OUTPUT -p tcp --dport 80 -j UGATE_REDIRECT",
                    "ip6tables -w -t nat -A UGATE_OUTPUT -p tcp --dport 8000:8100 -j UGATE_REDIRECT",
                    "ip6tables -w -t nat -A OUTPUT -p tcp -j UGATE_OUTPUT",
                }));
}

TEST(CaptureRules, DnsRedirectsPort53AndRoutesTheVirtualRanges) {
  Options o;
  o.uids = {1337};
  o.dns = true;
  o.dns_port = 20053;
  o.outbound_port = 20001;
  auto v4 = strings(install_commands(o, Family::kIpv4));
  EXPECT_EQ(v4, (std::vector<std::string>{
                    "iptables -w -t nat -N UGATE_DNS",
                    "iptables -w -t nat -A UGATE_DNS -m owner --uid-owner 1337 -j RETURN",
                    "iptables -w -t nat -A UGATE_DNS -p udp -j REDIRECT --to-ports 20053",
                    "iptables -w -t nat -A UGATE_DNS -p tcp -j REDIRECT --to-ports 20053",
                    "iptables -w -t nat -A OUTPUT -p udp --dport 53 -j UGATE_DNS",
                    "iptables -w -t nat -A OUTPUT -p tcp --dport 53 -j UGATE_DNS",
                    "iptables -w -t nat -N UGATE_REDIRECT",
                    "iptables -w -t nat -A UGATE_REDIRECT -p tcp -j REDIRECT --to-ports 20001",
                    "iptables -w -t nat -N UGATE_OUTPUT",
                    "iptables -w -t nat -A UGATE_OUTPUT -d 240.240.0.0/16 -p tcp -j UGATE_REDIRECT",
                    "iptables -w -t nat -A UGATE_OUTPUT -o lo -j RETURN",
                    "iptables -w -t nat -A UGATE_OUTPUT -m owner --uid-owner 1337 -j RETURN",
                    "iptables -w -t nat -A UGATE_OUTPUT -p tcp -j UGATE_REDIRECT",
                    "iptables -w -t nat -A OUTPUT -p tcp -j UGATE_OUTPUT",
                    "ip -4 route replace 240.240.0.0/16 dev lo proto 153",
                }));
  // IPv6: the range only (REDIRECT would send port 53 to ::1).
  auto v6 = strings(install_commands(o, Family::kIpv6));
  EXPECT_EQ(v6.front(), "ip6tables -w -t nat -N UGATE_REDIRECT");
  EXPECT_EQ(v6.back(), "ip -6 route replace fd00:0:0:53::/64 dev lo proto 153");
  // Removal deletes each listed route of that protocol.
  EXPECT_EQ(strings(remove_virtual_route_commands(Family::kIpv4, "240.240.0.0/16 dev lo scope link \n")),
            (std::vector<std::string>{"ip -4 route del 240.240.0.0/16 proto 153"}));
  o.outbound = false;
  o.inbound = true;
  EXPECT_THAT(validate(o), HasSubstr("--dns needs the outbound capture"));
}

TEST(CaptureRules, InboundTproxyMarksRoutesAndDivertsEstablished) {
  Options o;
  o.outbound = false;
  o.inbound = o.inbound_tproxy = true;
  o.inbound_exclude_ports = {"22"};
  auto v4 = strings(install_commands(o, Family::kIpv4));
  EXPECT_THAT(v4, Contains("iptables -w -t mangle -A UGATE_IN_TPROXY -p tcp -j TPROXY --on-port 15006 "
                           "--tproxy-mark 0x539/0x539"));
  EXPECT_THAT(v4, Contains("iptables -w -t mangle -A UGATE_INBOUND -p tcp -m conntrack --ctstate "
                           "RELATED,ESTABLISHED -j UGATE_DIVERT"));
  EXPECT_THAT(v4, Contains("iptables -w -t mangle -A PREROUTING -p tcp -j UGATE_INBOUND"));
  EXPECT_THAT(v4, Contains("ip -4 rule add fwmark 0x539/0x539 lookup 133"));
  EXPECT_THAT(v4, Contains("ip -4 route replace local 0.0.0.0/0 dev lo table 133"));
  EXPECT_THAT(v4, Not(Contains(HasSubstr("-t nat"))));
  auto v6 = strings(install_commands(o, Family::kIpv6));
  EXPECT_THAT(v6, Contains("ip -6 route replace local ::/0 dev lo table 133"));
}

TEST(CaptureRules, RemovalTakesOnlyOursJumpsFirst) {
  std::string listing =
      "-P PREROUTING ACCEPT\n"
      "-P OUTPUT ACCEPT\n"
      "-N MINE\n"
      "-N UGATE_OUTPUT\n"
      "-N UGATE_REDIRECT\n"
      "-A OUTPUT -p udp --dport 53 -j MINE\n"
      "-A OUTPUT -p tcp -j UGATE_OUTPUT\n"
      "-A UGATE_OUTPUT -p tcp -j UGATE_REDIRECT\n"
      "-A UGATE_REDIRECT -p tcp -j REDIRECT --to-ports 15001";
  EXPECT_EQ(strings(remove_chain_commands(Family::kIpv4, "nat", listing)),
            (std::vector<std::string>{"iptables -w -t nat -D OUTPUT -p tcp -j UGATE_OUTPUT",
                                      "iptables -w -t nat -F UGATE_OUTPUT", "iptables -w -t nat -F UGATE_REDIRECT",
                                      "iptables -w -t nat -X UGATE_OUTPUT", "iptables -w -t nat -X UGATE_REDIRECT"}));
  EXPECT_THAT(remove_chain_commands(Family::kIpv4, "nat", "-P OUTPUT ACCEPT\n-N MINE\n"), IsEmpty());
}

TEST(CaptureRules, RouteRemovalMatchesTheMarkAndTableExactly) {
  Options o;
  std::string rules =
      "0:\tfrom all lookup local\n"
      "32764:\tfrom all fwmark 0x539/0x539 lookup 133\n"
      "32765:\tfrom all fwmark 0x539/0x539 lookup 1334\n"
      "32766:\tfrom all lookup main\n";
  std::string routes = "local default dev lo scope host\n";
  EXPECT_EQ(strings(remove_route_commands(Family::kIpv4, o, rules, routes)),
            (std::vector<std::string>{"ip -4 rule del fwmark 0x539/0x539 lookup 133",
                                      "ip -4 route del local default dev lo table 133"}));
  EXPECT_THAT(remove_route_commands(Family::kIpv6, o, "", ""), IsEmpty());
}

TEST(CaptureRules, PrintedCommandsQuoteWhatAShellWouldSplit) {
  EXPECT_EQ(to_string({"iptables", "-m", "comment", "--comment", "two words", ""}),
            "iptables -m comment --comment 'two words' ''");
}

}  // namespace
}  // namespace ugate::capture

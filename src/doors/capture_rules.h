#pragma once
// The iptables rules that send traffic to the capture doors, as argv lists
// (`ugate capture install|remove` runs them; nothing here touches the system).
//
// Istio-style chains, all named UGATE_*:
//   nat    OUTPUT     -> UGATE_OUTPUT  -> UGATE_REDIRECT   (outbound: REDIRECT to the capture-out port)
//   nat    PREROUTING -> UGATE_INBOUND -> UGATE_IN_REDIRECT (inbound, REDIRECT mode)
//   mangle PREROUTING -> UGATE_INBOUND -> UGATE_IN_TPROXY   (inbound, TPROXY mode: new connections;
//                                      -> UGATE_DIVERT      established ones are marked, and a policy
//                                                            route delivers marked packets locally)
//   nat    OUTPUT (port 53) -> UGATE_DNS                     (--dns, IPv4: REDIRECT to the DNS listener)
// With --dns, the nodes' virtual address ranges (what the DNS listener
// answers) are routed to lo (routes of protocol kVirtualRouteProto, so that
// removal finds them) and jump to UGATE_REDIRECT before loopback is let go.
// ugate's own connections are left alone by the owner match (its uid or gid),
// loopback traffic is never captured, and port lists narrow what is.
// Installing first removes whatever UGATE_* rules exist, so installing twice
// is installing once, and removing leaves nothing.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ugate::capture {

using Command = std::vector<std::string>;

enum class Family { kIpv4, kIpv6 };

struct Options {
  bool outbound = true;
  bool inbound = false;
  bool inbound_tproxy = false;
  uint16_t outbound_port = 15001;
  uint16_t inbound_port = 15006;
  std::vector<uint32_t> uids;  // ugate's own user(s) and group(s): never captured
  std::vector<uint32_t> gids;
  std::vector<std::string> include_ports;  // outbound destination ports; empty = all
  std::vector<std::string> exclude_ports;
  std::vector<std::string> inbound_include_ports;
  std::vector<std::string> inbound_exclude_ports;
  bool ipv4 = true;
  bool ipv6 = true;
  uint32_t mark = 0x539;        // TPROXY: the mark that routes a packet to the local socket
  uint32_t route_table = 133;   // the policy routing table for that mark
  bool dns = false;             // port 53 to the DNS listener, the virtual ranges to the outbound capture
  uint16_t dns_port = 15053;
  std::string virtual_ipv4 = "240.240.0.0/16";  // dns.ipv4_range, dns.ipv6_range
  std::string virtual_ipv6 = "fd00:0:0:53::/64";
};

// The routes of the virtual ranges carry this protocol number (ip route ... proto 153).
inline constexpr std::string_view kVirtualRouteProto = "153";

// "" when the options make sense, else what is wrong.
std::string validate(const Options& o);

// "80,443,8000-8100" as iptables ports ("80", "443", "8000:8100"); on a bad
// entry returns false and says why.
bool parse_ports(std::string_view list, std::vector<std::string>& out, std::string& why);

std::string_view tool(Family f);  // iptables | ip6tables

// The commands that add the rules of one family (after the removal below).
std::vector<Command> install_commands(const Options& o, Family f);

// What `<tool> -t <table> -S` lists of ours, as commands that delete it:
// jumps from built-in chains first, then the UGATE_* chains (flushed, then deleted).
std::vector<Command> remove_chain_commands(Family f, std::string_view table, std::string_view listing);

// The TPROXY policy routing left in `ip rule show` / `ip route show table T`, as commands that delete it.
std::vector<Command> remove_route_commands(Family f, const Options& o, std::string_view rules,
                                           std::string_view routes);

// The virtual ranges' routes that `ip route show proto 153` lists, as commands that delete them.
std::vector<Command> remove_virtual_route_commands(Family f, std::string_view routes);

// The read-only commands whose output the removal commands above need.
Command list_chains_command(Family f, std::string_view table);
Command list_rules_command(Family f);
Command list_routes_command(Family f, const Options& o);
Command list_virtual_routes_command(Family f);

// For --dry-run and error messages: the command as one would type it.
std::string to_string(const Command& c);

}  // namespace ugate::capture

#include "doors/capture_rules.h"

#include <fmt/format.h>

#include <charconv>
#include <sstream>

namespace ugate::capture {
namespace {

constexpr std::string_view kPrefix = "UGATE_";

bool ours(std::string_view chain) { return chain.starts_with(kPrefix); }

std::vector<std::string> words(std::string_view line) {
  std::vector<std::string> out;
  std::istringstream in{std::string(line)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::vector<std::string_view> lines(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  return out;
}

std::string mark_mask(uint32_t mark) { return fmt::format("{:#x}/{:#x}", mark, mark); }

std::string_view ip_family(Family f) { return f == Family::kIpv4 ? "-4" : "-6"; }

bool parse_port(std::string_view text, uint32_t& port) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  return ec == std::errc() && end == text.data() + text.size() && port >= 1 && port <= 65535;
}

// The rules in one chain of one table, as iptables commands.
class Chains {
 public:
  Chains(Family f, std::vector<Command>& out) : family_(f), out_(out) {}
  void add(std::string_view table, std::vector<std::string> args) {
    Command c{std::string(tool(family_)), "-w", "-t", std::string(table)};
    c.insert(c.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
    out_.push_back(std::move(c));
  }
  // `chain` jumps to `target` for the ports listed (each its own rule), or for all TCP.
  void jump_for_ports(std::string_view table, const std::string& chain, const std::vector<std::string>& ports,
                      const std::string& target) {
    if (ports.empty()) add(table, {"-A", chain, "-p", "tcp", "-j", target});
    for (const auto& p : ports) add(table, {"-A", chain, "-p", "tcp", "--dport", p, "-j", target});
  }

 private:
  Family family_;
  std::vector<Command>& out_;
};

}  // namespace

std::string_view tool(Family f) { return f == Family::kIpv4 ? "iptables" : "ip6tables"; }

bool parse_ports(std::string_view list, std::vector<std::string>& out, std::string& why) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
    if (item.empty()) continue;
    size_t dash = item.find_first_of("-:");
    uint32_t lo = 0, hi = 0;
    bool ok = dash == std::string_view::npos ? parse_port(item, lo) && (hi = lo)
                                             : parse_port(item.substr(0, dash), lo) &&
                                                   parse_port(item.substr(dash + 1), hi) && lo <= hi;
    if (!ok) {
      why = "'" + std::string(item) + "' is not a port (1-65535) or a range (LOW-HIGH)";
      return false;
    }
    out.push_back(lo == hi ? std::to_string(lo) : fmt::format("{}:{}", lo, hi));
  }
  return true;
}

std::string validate(const Options& o) {
  if (!o.outbound && !o.inbound) return "nothing to capture: neither outbound nor inbound";
  if (!o.ipv4 && !o.ipv6) return "no address family left (IPv4 and IPv6 both off)";
  if (o.outbound && o.uids.empty() && o.gids.empty())
    return "give --uid or --gid: the user or group ugate runs as, so that its own connections are not "
           "captured again (a loop)";
  if (o.inbound_tproxy && !o.inbound) return "--inbound-tproxy needs --inbound";
  if (o.outbound_port == 0 || o.inbound_port == 0) return "capture ports must not be 0";
  if (o.dns && !o.outbound) return "--dns needs the outbound capture: the virtual addresses lead there";
  if (o.dns && o.dns_port == 0) return "the DNS port must not be 0";
  if (o.mark == 0) return "the TPROXY mark must not be 0";
  if (o.route_table == 0 || (o.route_table >= 253 && o.route_table <= 255))
    return "route table " + std::to_string(o.route_table) + " is reserved (0, 253 default, 254 main, 255 local)";
  return "";
}

std::vector<Command> install_commands(const Options& o, Family f) {
  std::vector<Command> out;
  Chains ch(f, out);
  // Port 53 first: before UGATE_OUTPUT sends TCP to the outbound capture. Only
  // IPv4: REDIRECT sends a local IPv6 packet to ::1, where the listener is not.
  if (o.dns && f == Family::kIpv4) {
    ch.add("nat", {"-N", "UGATE_DNS"});
    for (uint32_t uid : o.uids)
      ch.add("nat", {"-A", "UGATE_DNS", "-m", "owner", "--uid-owner", std::to_string(uid), "-j", "RETURN"});
    for (uint32_t gid : o.gids)
      ch.add("nat", {"-A", "UGATE_DNS", "-m", "owner", "--gid-owner", std::to_string(gid), "-j", "RETURN"});
    for (const char* proto : {"udp", "tcp"})
      ch.add("nat", {"-A", "UGATE_DNS", "-p", proto, "-j", "REDIRECT", "--to-ports", std::to_string(o.dns_port)});
    for (const char* proto : {"udp", "tcp"}) ch.add("nat", {"-A", "OUTPUT", "-p", proto, "--dport", "53", "-j", "UGATE_DNS"});
  }
  const std::string& virtual_range = f == Family::kIpv4 ? o.virtual_ipv4 : o.virtual_ipv6;
  if (o.outbound) {
    ch.add("nat", {"-N", "UGATE_REDIRECT"});
    ch.add("nat", {"-A", "UGATE_REDIRECT", "-p", "tcp", "-j", "REDIRECT", "--to-ports", std::to_string(o.outbound_port)});
    ch.add("nat", {"-N", "UGATE_OUTPUT"});
    if (o.dns)  // routed to lo, yet for the mesh
      ch.add("nat", {"-A", "UGATE_OUTPUT", "-d", virtual_range, "-p", "tcp", "-j", "UGATE_REDIRECT"});
    ch.add("nat", {"-A", "UGATE_OUTPUT", "-o", "lo", "-j", "RETURN"});  // between local processes
    for (uint32_t uid : o.uids)
      ch.add("nat", {"-A", "UGATE_OUTPUT", "-m", "owner", "--uid-owner", std::to_string(uid), "-j", "RETURN"});
    for (uint32_t gid : o.gids)
      ch.add("nat", {"-A", "UGATE_OUTPUT", "-m", "owner", "--gid-owner", std::to_string(gid), "-j", "RETURN"});
    for (const auto& p : o.exclude_ports)
      ch.add("nat", {"-A", "UGATE_OUTPUT", "-p", "tcp", "--dport", p, "-j", "RETURN"});
    ch.jump_for_ports("nat", "UGATE_OUTPUT", o.include_ports, "UGATE_REDIRECT");
    ch.add("nat", {"-A", "OUTPUT", "-p", "tcp", "-j", "UGATE_OUTPUT"});
    if (o.dns)  // a route, so that connecting to them does not fail before the capture sees it
      out.push_back({"ip", std::string(ip_family(f)), "route", "replace", virtual_range, "dev", "lo", "proto",
                     std::string(kVirtualRouteProto)});
  }
  if (o.inbound) {
    std::string table = o.inbound_tproxy ? "mangle" : "nat";
    std::string target = o.inbound_tproxy ? "UGATE_IN_TPROXY" : "UGATE_IN_REDIRECT";
    ch.add(table, {"-N", target});
    if (o.inbound_tproxy)
      ch.add(table, {"-A", target, "-p", "tcp", "-j", "TPROXY", "--on-port", std::to_string(o.inbound_port),
                     "--tproxy-mark", mark_mask(o.mark)});
    else
      ch.add(table, {"-A", target, "-p", "tcp", "-j", "REDIRECT", "--to-ports", std::to_string(o.inbound_port)});
    if (o.inbound_tproxy) {
      // Packets of connections that exist (ugate's own included) are marked for
      // local delivery as they are: TPROXY would drop those of sockets that are
      // not transparent.
      ch.add(table, {"-N", "UGATE_DIVERT"});
      ch.add(table, {"-A", "UGATE_DIVERT", "-j", "MARK", "--set-xmark", mark_mask(o.mark)});
      ch.add(table, {"-A", "UGATE_DIVERT", "-j", "ACCEPT"});
    }
    ch.add(table, {"-N", "UGATE_INBOUND"});
    // Loopback: ugate's own connections to local apps come back in this way.
    ch.add(table, {"-A", "UGATE_INBOUND", "-i", "lo", "-j", "RETURN"});
    for (const auto& p : o.inbound_exclude_ports)
      ch.add(table, {"-A", "UGATE_INBOUND", "-p", "tcp", "--dport", p, "-j", "RETURN"});
    if (o.inbound_tproxy)
      ch.add(table, {"-A", "UGATE_INBOUND", "-p", "tcp", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j",
                     "UGATE_DIVERT"});
    ch.jump_for_ports(table, "UGATE_INBOUND", o.inbound_include_ports, target);
    ch.add(table, {"-A", "PREROUTING", "-p", "tcp", "-j", "UGATE_INBOUND"});
    if (o.inbound_tproxy) {
      // Marked packets are for a local (transparent) socket, whatever their address.
      std::string table_id = std::to_string(o.route_table);
      out.push_back({"ip", std::string(ip_family(f)), "rule", "add", "fwmark", mark_mask(o.mark), "lookup", table_id});
      out.push_back({"ip", std::string(ip_family(f)), "route", "replace", "local",
                     f == Family::kIpv4 ? "0.0.0.0/0" : "::/0", "dev", "lo", "table", table_id});
    }
  }
  return out;
}

std::vector<Command> remove_chain_commands(Family f, std::string_view table, std::string_view listing) {
  std::vector<Command> jumps, flushes, deletes;
  Command base{std::string(tool(f)), "-w", "-t", std::string(table)};
  auto with = [&](std::vector<std::string> args) {
    Command c = base;
    c.insert(c.end(), args.begin(), args.end());
    return c;
  };
  for (std::string_view line : lines(listing)) {
    auto w = words(line);
    if (w.size() == 2 && w[0] == "-N" && ours(w[1])) {
      flushes.push_back(with({"-F", w[1]}));
      deletes.push_back(with({"-X", w[1]}));
    } else if (w.size() > 3 && w[0] == "-A" && !ours(w[1])) {
      for (size_t i = 2; i + 1 < w.size(); ++i) {
        if ((w[i] == "-j" || w[i] == "-g") && ours(w[i + 1])) {
          w[0] = "-D";
          jumps.push_back(with(std::move(w)));
          break;
        }
      }
    }
  }
  // Nothing may point at a chain that is deleted: jumps go first, then every
  // chain is emptied (they jump to each other), then deleted.
  jumps.insert(jumps.end(), flushes.begin(), flushes.end());
  jumps.insert(jumps.end(), deletes.begin(), deletes.end());
  return jumps;
}

std::vector<Command> remove_route_commands(Family f, const Options& o, std::string_view rules,
                                           std::string_view routes) {
  std::vector<Command> out;
  std::string table_id = std::to_string(o.route_table);
  std::string rule = fmt::format("fwmark {} lookup {}", mark_mask(o.mark), table_id);
  for (std::string_view line : lines(rules)) {
    size_t at = line.find(rule);
    if (at == std::string_view::npos) continue;
    size_t end = at + rule.size();
    if (end < line.size() && line[end] != ' ' && line[end] != '\t') continue;  // "lookup 1334"
    out.push_back({"ip", std::string(ip_family(f)), "rule", "del", "fwmark", mark_mask(o.mark), "lookup", table_id});
  }
  for (std::string_view line : lines(routes)) {
    if (line.starts_with("local default dev lo"))
      out.push_back({"ip", std::string(ip_family(f)), "route", "del", "local", "default", "dev", "lo", "table",
                     table_id});
  }
  return out;
}

std::vector<Command> remove_virtual_route_commands(Family f, std::string_view routes) {
  std::vector<Command> out;
  for (std::string_view line : lines(routes)) {
    auto w = words(line);
    if (w.empty()) continue;
    out.push_back({"ip", std::string(ip_family(f)), "route", "del", w[0], "proto", std::string(kVirtualRouteProto)});
  }
  return out;
}

Command list_virtual_routes_command(Family f) {
  return {"ip", std::string(ip_family(f)), "route", "show", "proto", std::string(kVirtualRouteProto)};
}

Command list_chains_command(Family f, std::string_view table) {
  return {std::string(tool(f)), "-w", "-t", std::string(table), "-S"};
}

Command list_rules_command(Family f) { return {"ip", std::string(ip_family(f)), "rule", "show"}; }

Command list_routes_command(Family f, const Options& o) {
  return {"ip", std::string(ip_family(f)), "route", "show", "table", std::to_string(o.route_table)};
}

std::string to_string(const Command& c) {
  std::string out;
  for (const auto& arg : c) {
    if (!out.empty()) out += ' ';
    bool plain = !arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                       "0123456789_-./:=,+") == std::string::npos;
    out += plain ? arg : "'" + arg + "'";
  }
  return out;
}

}  // namespace ugate::capture

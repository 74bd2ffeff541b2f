#include "capture_command.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <iostream>
#include <tuple>

#include "base/account_id.h"
#include "base/cidr.h"
#include "config/config.h"
#include "doors/capture_rules.h"

namespace ugate {
namespace {

using capture::Command;
using capture::Family;

struct Result {
  int status = -1;  // exit code, or -1 when it could not run
  std::string out;  // stdout, when captured
};

// fork/exec with an argv: no shell, so nothing in an argument is interpreted.
// `capture` collects stdout (and silences stderr: listings of things that do
// not exist yet are expected to fail); otherwise both go to ours.
Result run_command(const Command& argv, bool capture) {
  Result r;
  int pipe_fds[2] = {-1, -1};
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  if (capture && ::pipe2(pipe_fds, O_CLOEXEC) != 0) return r;
  pid_t pid = ::fork();
  if (pid == 0) {
    if (capture) {
      ::dup2(pipe_fds[1], STDOUT_FILENO);
      int null = ::open("/dev/null", O_WRONLY);
      if (null >= 0) ::dup2(null, STDERR_FILENO);
    }
    ::execvp(args[0], args.data());
    if (!capture) ::dprintf(STDERR_FILENO, "ugate capture: cannot run %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  if (capture) ::close(pipe_fds[1]);
  if (pid < 0) {
    if (capture) ::close(pipe_fds[0]);
    return r;
  }
  if (capture) {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      r.out.append(buf, static_cast<size_t>(n));
    }
    ::close(pipe_fds[0]);
  }
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  return r;
}

bool parse_number(const std::string& text, uint32_t& out) {
  int base = text.starts_with("0x") ? 16 : 10;
  const char* begin = text.data() + (base == 16 ? 2 : 0);
  auto [end, ec] = std::from_chars(begin, text.data() + text.size(), out, base);
  return ec == std::errc() && end == text.data() + text.size() && end != begin;
}

}  // namespace

struct CaptureCommand::Flags {
  std::vector<std::string> uids, gids;
  std::optional<uint16_t> outbound_port, inbound_port;
  bool no_outbound = false, inbound = false, inbound_tproxy = false;
  std::string include_ports, exclude_ports, inbound_include_ports, inbound_exclude_ports;
  bool ipv4_only = false, ipv6_only = false, dry_run = false;
  std::string mark = "0x539", route_table = "133";
  bool dns = false;
  std::optional<uint16_t> dns_port;
  std::string virtual_ipv4, virtual_ipv6;
};

CaptureCommand::CaptureCommand(CLI::App& app) : flags_(std::make_shared<Flags>()) {
  capture_ = app.add_subcommand("capture", "Write or remove the iptables rules that send traffic to the capture doors");
  capture_->require_subcommand(1);
  install_ = capture_->add_subcommand(
      "install", "Add the rules (after removing any that exist: installing twice is installing once)");
  remove_ = capture_->add_subcommand("remove", "Remove every UGATE_* chain and rule, the TPROXY routing and the virtual ranges' routes");
  Flags& f = *flags_;
  for (CLI::App* sub : {install_, remove_}) {
    sub->add_flag("--dry-run", f.dry_run, "Print the commands instead of running them");
    sub->add_flag("--ipv4-only", f.ipv4_only, "Only iptables (not ip6tables)");
    sub->add_flag("--ipv6-only", f.ipv6_only, "Only ip6tables (not iptables)");
    sub->add_option("--mark", f.mark, "TPROXY packet mark (default 0x539)");
    sub->add_option("--route-table", f.route_table, "TPROXY policy routing table (default 133)");
  }
  install_->add_option("--uid", f.uids, "User ugate runs as (name or number; repeatable): its traffic is not captured");
  install_->add_option("--gid", f.gids, "Group ugate runs as (name or number; repeatable): its traffic is not captured");
  install_->add_option("--outbound-port", f.outbound_port, "The capture-out port (default BASE+1)");
  install_->add_option("--inbound-port", f.inbound_port, "The capture-in port (default BASE+6)");
  install_->add_flag("--no-outbound", f.no_outbound, "Do not capture outgoing connections (nat OUTPUT)");
  install_->add_flag("--inbound", f.inbound,
                     "Also capture arriving connections (PREROUTING); every port but the excluded ones, so "
                     "exclude the ones you log in by (--inbound-exclude-ports 22)");
  install_->add_flag("--inbound-tproxy", f.inbound_tproxy,
                     "Capture arriving connections with TPROXY (mangle table and a policy route) instead of REDIRECT; "
                     "the capture-in listener then needs tproxy: true");
  install_->add_flag("--dns", f.dns,
                     "Also send port 53 (UDP and TCP, IPv4) to the DNS listener, and route the nodes' virtual "
                     "addresses to the outbound capture");
  install_->add_option("--dns-port", f.dns_port, "The DNS listener's port (default BASE+53)");
  install_->add_option("--virtual-ipv4-range", f.virtual_ipv4, "dns.ipv4_range (default 240.240.0.0/16)");
  install_->add_option("--virtual-ipv6-range", f.virtual_ipv6, "dns.ipv6_range (default fd00:0:0:53::/64)");
  install_->add_option("--include-ports", f.include_ports, "Outbound destination ports to capture: 80,443,8000-8100 (default all)");
  install_->add_option("--exclude-ports", f.exclude_ports, "Outbound destination ports never captured");
  install_->add_option("--inbound-include-ports", f.inbound_include_ports, "Inbound ports to capture (default all)");
  install_->add_option("--inbound-exclude-ports", f.inbound_exclude_ports, "Inbound ports never captured");
}

int CaptureCommand::run(std::optional<uint16_t> base_port) {
  const Flags& f = *flags_;
  const bool install = install_->parsed();
  const char* name = install ? "ugate capture install" : "ugate capture remove";
  auto fail = [&](const std::string& why) {
    std::cerr << name << ": " << why << "\n";
    return 1;
  };

  capture::Options o;
  uint16_t base = base_port.value_or(kDefaultBasePort);
  o.outbound = !f.no_outbound;
  o.inbound = f.inbound || f.inbound_tproxy;
  o.inbound_tproxy = f.inbound_tproxy;
  o.outbound_port = f.outbound_port.value_or(static_cast<uint16_t>(base + 1));
  o.inbound_port = f.inbound_port.value_or(static_cast<uint16_t>(base + 6));
  o.dns = f.dns;
  o.dns_port = f.dns_port.value_or(static_cast<uint16_t>(base + 53));
  if (!f.virtual_ipv4.empty()) o.virtual_ipv4 = f.virtual_ipv4;
  if (!f.virtual_ipv6.empty()) o.virtual_ipv6 = f.virtual_ipv6;
  for (const auto& [flag, range, v4] : {std::tuple{"--virtual-ipv4-range", &o.virtual_ipv4, true},
                                        std::tuple{"--virtual-ipv6-range", &o.virtual_ipv6, false}}) {
    auto c = parse_cidr(*range);
    if (!c || c->network.is_v4() != v4) return fail(std::string(flag) + ": expected an IPv" + (v4 ? "4" : "6") + " range");
  }
  o.ipv4 = !f.ipv6_only;
  o.ipv6 = !f.ipv4_only;
  if (!parse_number(f.mark, o.mark)) return fail("--mark: expected a number, got '" + f.mark + "'");
  if (!parse_number(f.route_table, o.route_table))
    return fail("--route-table: expected a number, got '" + f.route_table + "'");
  for (auto [list, ids, group] : {std::tuple{&f.uids, &o.uids, false}, std::tuple{&f.gids, &o.gids, true}}) {
    for (const auto& text : *list) {
      auto id = account_id(text, group);
      if (!id) return fail(std::string(group ? "--gid" : "--uid") + ": no such " + (group ? "group" : "user") + " '" +
                           text + "'");
      ids->push_back(*id);
    }
  }
  for (auto [flag, text, out] : {std::tuple{"--include-ports", &f.include_ports, &o.include_ports},
                                 std::tuple{"--exclude-ports", &f.exclude_ports, &o.exclude_ports},
                                 std::tuple{"--inbound-include-ports", &f.inbound_include_ports, &o.inbound_include_ports},
                                 std::tuple{"--inbound-exclude-ports", &f.inbound_exclude_ports, &o.inbound_exclude_ports}}) {
    std::string why;
    if (!capture::parse_ports(*text, *out, why)) return fail(std::string(flag) + ": " + why);
  }
  if (std::string why = install ? capture::validate(o) : ""; !why.empty()) return fail(why);
  if (!o.ipv4 && !o.ipv6) return fail("--ipv4-only and --ipv6-only together leave nothing");

  // Plan: what exists of ours goes first (read from the live tables), then the new rules.
  std::vector<Command> plan;
  for (Family fam : {Family::kIpv4, Family::kIpv6}) {
    if (!(fam == Family::kIpv4 ? o.ipv4 : o.ipv6)) continue;
    for (std::string_view table : {"nat", "mangle"}) {
      Result listing = run_command(capture::list_chains_command(fam, table), true);
      if (listing.status != 0) {
        if (install && !f.dry_run)
          return fail(capture::to_string(capture::list_chains_command(fam, table)) +
                      " failed: is iptables installed, and are you root (CAP_NET_ADMIN)?" +
                      (fam == Family::kIpv6 ? " Without IPv6, use --ipv4-only." : ""));
        std::cerr << name << ": cannot read the " << capture::tool(fam) << " " << table << " table; skipped\n";
        continue;
      }
      auto removal = capture::remove_chain_commands(fam, table, listing.out);
      plan.insert(plan.end(), removal.begin(), removal.end());
    }
    Result rules = run_command(capture::list_rules_command(fam), true);
    Result routes = run_command(capture::list_routes_command(fam, o), true);
    auto removal = capture::remove_route_commands(fam, o, rules.out, routes.out);
    plan.insert(plan.end(), removal.begin(), removal.end());
    Result virtual_routes = run_command(capture::list_virtual_routes_command(fam), true);
    auto virtual_removal = capture::remove_virtual_route_commands(fam, virtual_routes.out);
    plan.insert(plan.end(), virtual_removal.begin(), virtual_removal.end());
    if (install) {
      auto adds = capture::install_commands(o, fam);
      plan.insert(plan.end(), adds.begin(), adds.end());
    }
  }

  if (f.dry_run) {
    for (const auto& c : plan) std::cout << capture::to_string(c) << "\n";
    return 0;
  }
  for (const auto& c : plan) {
    Result r = run_command(c, false);
    if (r.status != 0)
      return fail("failed (exit " + std::to_string(r.status) + "): " + capture::to_string(c) +
                  (install ? "\nrun `ugate capture remove` to clear what was written" : ""));
  }
  std::cerr << name << ": done (" << plan.size() << " commands)\n";
  return 0;
}

}  // namespace ugate

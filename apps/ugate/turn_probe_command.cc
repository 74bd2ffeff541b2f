#include "turn_probe_command.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "base/endpoint.h"
#include "stun/client_socket.h"
#include "stun/server.h"

namespace ugate {
namespace {

constexpr int kOk = 0, kNoReply = 1, kNoAllocation = 2;
constexpr uint16_t kChannel = 0x4000;

}  // namespace

struct TurnProbeCommand::Flags {
  std::string server, user, password, secret, peer, message = "ugate turn-probe", timeout = "10s", ttl = "1h";
  bool channel = false, json = false;
  uint32_t lifetime = 600;
};

TurnProbeCommand::TurnProbeCommand(CLI::App& app) : flags_(std::make_shared<Flags>()) {
  cmd_ = app.add_subcommand("turn-probe",
                            "Allocate a relay on a TURN server (UDP), permit --peer, send it --message through the "
                            "relay and print the relayed address and the peer's reply");
  cmd_->add_option("address", flags_->server, "HOST:PORT of the TURN server (UDP)")->required();
  cmd_->add_option("--user", flags_->user, "Username (with --secret: the name after the REST expiry)")->required();
  cmd_->add_option("--password", flags_->password, "Long-term credential's password");
  cmd_->add_option("--secret", flags_->secret, "The server's REST shared secret (coturn's static-auth-secret)");
  cmd_->add_option("--ttl", flags_->ttl, "With --secret: how long the REST username is valid (default 1h)");
  cmd_->add_option("--peer", flags_->peer, "HOST:PORT of a UDP peer that answers (turnutils_peer echoes)");
  cmd_->add_option("--message", flags_->message, "What to send the peer");
  cmd_->add_flag("--channel", flags_->channel, "Bind a channel and send ChannelData (default: Send indications)");
  cmd_->add_option("--lifetime", flags_->lifetime, "Allocation lifetime asked for, seconds (default 600)");
  cmd_->add_option("--timeout", flags_->timeout, "For each request's answer and the reply (default 10s)");
  cmd_->add_flag("--json", flags_->json, "As JSON");
}

int TurnProbeCommand::run() {
  const Flags& f = *flags_;
  auto fail = [](const std::string& why) {
    std::cerr << "ugate turn-probe: " << why << "\n";
    return kNoAllocation;
  };
  auto server = parse_host_port(f.server);
  if (!server || server->port == 0) return fail("expected HOST:PORT, got '" + f.server + "'");
  auto timeout = parse_duration(f.timeout);
  if (!timeout || timeout->count() < 100) return fail("--timeout: expected a duration of 100ms or more");
  if (f.password.empty() == f.secret.empty()) return fail("give --password or --secret (one of them)");
  stun::TurnCredentials creds{f.user, f.password};
  if (!f.secret.empty()) {
    auto ttl = parse_duration(f.ttl);
    if (!ttl || ttl->count() < 1000) return fail("--ttl: expected a duration of 1s or more");
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    creds = stun::rest_credentials(f.secret, f.user, static_cast<uint64_t>(now.count()),
                                   static_cast<uint64_t>(ttl->count() / 1000));
  }
  std::optional<stun::Address> peer;
  if (!f.peer.empty()) {
    auto hp = parse_host_port(f.peer);
    std::string why;
    auto ep = hp && hp->port ? stun::resolve_udp(*hp, why) : std::nullopt;
    if (!ep) return fail("--peer: expected HOST:PORT, got '" + f.peer + "'" + (why.empty() ? "" : ": " + why));
    peer = stun::to_stun(ep->address(), ep->port());
  }
  std::string why;
  auto to = stun::resolve_udp(*server, why);
  if (!to) return fail(why);
  // RFC 8489's schedule (Rc 7, Rm 16: 79 RTOs in all) squeezed into --timeout, at most the RFC's 500 ms RTO.
  stun::RetransmitPolicy policy;
  policy.rto = std::clamp(std::chrono::milliseconds(timeout->count() / 79), std::chrono::milliseconds(20),
                          std::chrono::milliseconds(500));

  nlohmann::json out = {{"server", f.server}};
  auto report = [&](int code) {
    if (f.json) {
      std::cout << out.dump(2) << "\n";
    } else {
      for (auto& [k, v] : out.items()) std::cout << k << std::string(k.size() < 10 ? 10 - k.size() : 1, ' ')
                                                 << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
    }
    return code;
  };
  try {
    stun::TurnSession session(*to, creds, policy);
    if (!session.allocate(f.lifetime)) {
      out["error"] = "allocate: " + session.error();
      report(kNoAllocation);
      return kNoAllocation;
    }
    const stun::TurnClient& c = session.client();
    out["realm"] = c.realm();
    if (c.mapped()) out["mapped"] = stun::to_string(*c.mapped());
    out["relayed"] = stun::to_string(*c.relayed());
    out["lifetime"] = c.lifetime();
    int code = kOk;
    if (peer) {
      out["peer"] = stun::to_string(*peer);
      const std::span<const uint8_t> message(reinterpret_cast<const uint8_t*>(f.message.data()), f.message.size());
      bool ready = f.channel ? session.bind_channel(kChannel, *peer) : session.permit(std::span(&*peer, 1));
      if (!ready) {
        out["error"] = (f.channel ? "channel bind: " : "create permission: ") + session.error();
        code = kNoReply;
      } else {
        auto sent = std::chrono::steady_clock::now();
        if (f.channel) session.send_channel(kChannel, message);
        else session.send(*peer, message);
        auto reply = session.receive(sent + *timeout);
        if (!reply) {
          out["error"] = "no reply from the peer within " + f.timeout;
          code = kNoReply;
        } else {
          auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - sent);
          out["reply"] = std::string(reply->data.begin(), reply->data.end());
          out["via"] = reply->peer ? "data indication from " + stun::to_string(*reply->peer)
                                   : "channel " + std::to_string(reply->channel);
          out["rtt_ms"] = static_cast<double>(us.count()) / 1000.0;
        }
      }
    }
    if (!session.refresh(0)) out["release"] = session.error();  // the allocation is not left behind
    return report(code);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}

}  // namespace ugate

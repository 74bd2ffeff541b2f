#pragma once
// Authorization: who may reach what, through which door. Pure data and a
// matcher, no sockets: rules in order, the first that matches decides; when
// none does, the default decides. The default `auto` allows a mesh-port
// stream only from the node's own trust domain and leaves the other doors
// (no proven identity) as they are.
//
// A rule matches when each of its lists that is given has an entry that
// matches (lists are ORed inside, ANDed together):
//   spiffe  source SPIFFE ID: exact, "prefix*", "*suffix" or "*" (the
//           "spiffe://" may be left out, as in Istio's principals)
//   node    source node ID, exact
//   uid     a Unix socket client's user ID (SO_PEERCRED), and
//   gid     its group ID (the process's primary group, not its others)
//   host    destination host: exact or "*.suffix" (case-insensitive)
//   port    destination port
//   sni     TLS server name: exact or "*.suffix"
//   door    the listener's protocol (mesh, tcp, ...) or its name
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/meta.h"

namespace ugate {

struct AuthzRule {
  std::string name;
  bool allow = true;
  std::vector<std::string> spiffe, node, host, sni, door;
  std::vector<uint16_t> port;
  std::vector<uint32_t> uid, gid;
};

struct AuthzRequest {
  std::string_view protocol;      // the listener's door protocol
  std::string_view listener;      // its name
  std::string_view peer_spiffe;   // "" when the door proved no identity
  std::string_view peer_node;
  const UnixPeer* unix_peer = nullptr;  // a Unix socket listener's client; null otherwise
  std::string_view host;          // the destination
  uint16_t port = 0;
  std::string_view sni;
  std::string_view trust_domain;  // this node's, for the default
};

struct AuthzDecision {
  bool allow = true;
  int rule = -1;  // index of the rule that decided; -1: the default
};

class AuthzPolicy {
 public:
  enum class Default : uint8_t { kAuto, kAllow, kDeny };

  AuthzPolicy() = default;
  AuthzPolicy(std::vector<AuthzRule> rules, Default d) : rules_(std::move(rules)), default_(d) {}

  AuthzDecision decide(const AuthzRequest& r) const;
  const std::vector<AuthzRule>& rules() const { return rules_; }
  Default default_action() const { return default_; }
  // "the rule's name" or "default", for logs and metrics.
  std::string_view rule_name(const AuthzDecision& d) const;

  // "" when `pattern` is a valid SPIFFE pattern, else what is wrong.
  static std::string check_spiffe_pattern(std::string_view pattern);

 private:
  std::vector<AuthzRule> rules_;
  Default default_ = Default::kAuto;
};

}  // namespace ugate

#include "policy/authz.h"

#include <algorithm>

#include "identity/spiffe.h"
#include "policy/router.h"

namespace ugate {
namespace {

std::string_view without_scheme(std::string_view s) {
  constexpr std::string_view kScheme = "spiffe://";
  return s.starts_with(kScheme) ? s.substr(kScheme.size()) : s;
}

bool spiffe_matches(std::string_view pattern, std::string_view id) {
  if (id.empty()) return false;
  pattern = without_scheme(pattern);
  id = without_scheme(id);
  if (pattern == "*") return true;
  if (pattern.ends_with('*')) return id.starts_with(pattern.substr(0, pattern.size() - 1));
  if (pattern.starts_with('*')) return id.ends_with(pattern.substr(1));
  return id == pattern;
}


template <typename T, typename Pred>
bool any_or_unset(const std::vector<T>& list, Pred pred) {
  return list.empty() || std::any_of(list.begin(), list.end(), pred);
}

bool matches(const AuthzRule& rule, const AuthzRequest& r) {
  return any_or_unset(rule.spiffe, [&](const std::string& p) { return spiffe_matches(p, r.peer_spiffe); }) &&
         any_or_unset(rule.node, [&](const std::string& n) { return !r.peer_node.empty() && n == r.peer_node; }) &&
         any_or_unset(rule.uid, [&](uint32_t id) { return r.unix_peer && r.unix_peer->uid == id; }) &&
         any_or_unset(rule.gid, [&](uint32_t id) { return r.unix_peer && r.unix_peer->gid == id; }) &&
         any_or_unset(rule.host, [&](const std::string& h) { return Router::host_matches(h, r.host); }) &&
         any_or_unset(rule.port, [&](uint16_t p) { return p == r.port; }) &&
         any_or_unset(rule.sni, [&](const std::string& s) { return !r.sni.empty() && Router::host_matches(s, r.sni); }) &&
         any_or_unset(rule.door, [&](const std::string& d) { return d == r.protocol || d == r.listener; });
}

}  // namespace

AuthzDecision AuthzPolicy::decide(const AuthzRequest& r) const {
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (matches(rules_[i], r)) return {rules_[i].allow, static_cast<int>(i)};
  }
  switch (default_) {
    case Default::kAllow: return {true, -1};
    case Default::kDeny: return {false, -1};
    case Default::kAuto: break;
  }
  if (r.protocol != "mesh") return {true, -1};
  auto peer = parse_spiffe_id(r.peer_spiffe);
  return {peer && !r.trust_domain.empty() && peer->trust_domain == r.trust_domain, -1};
}

std::string_view AuthzPolicy::rule_name(const AuthzDecision& d) const {
  return d.rule < 0 ? std::string_view("default") : std::string_view(rules_[static_cast<size_t>(d.rule)].name);
}

std::string AuthzPolicy::check_spiffe_pattern(std::string_view pattern) {
  std::string_view body = without_scheme(pattern);
  if (body.empty()) return "empty SPIFFE pattern";
  size_t stars = static_cast<size_t>(std::count(body.begin(), body.end(), '*'));
  if (stars > 1 || (stars == 1 && !body.starts_with('*') && !body.ends_with('*')))
    return "'*' only as the whole pattern, its first or its last character (exact, prefix*, *suffix)";
  return "";
}

}  // namespace ugate

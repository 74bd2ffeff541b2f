#include "config/readers.h"

#include <tuple>

#include "base/account_id.h"
#include "identity/spiffe.h"

namespace ugate::config_yaml {

IdentityConfig read_identity(const Reader& r, const YAML::Node& n) {
  const std::string key = "identity";
  r.only_keys(n, key, {"trust_domain", "namespace", "name", "dns", "cert", "key", "roots", "cert_ttl", "ca"});
  IdentityConfig id;
  auto field = [&](const char* k) { return Reader::join(key, k); };
  if (n["trust_domain"]) {
    id.trust_domain = r.scalar(n["trust_domain"], field("trust_domain"));
    if (auto err = check_trust_domain(id.trust_domain); !err.empty()) r.fail(n["trust_domain"], field("trust_domain"), err);
  }
  for (auto [k, out] : {std::pair{"namespace", &id.ns}, std::pair{"name", &id.name}}) {
    if (!n[k]) continue;
    *out = r.scalar(n[k], field(k));
    if (auto err = check_path_segment(*out); !err.empty()) r.fail(n[k], field(k), err);
  }
  if (n["dns"]) id.dns = r.scalars(n["dns"], field("dns"));
  if (n["cert"]) id.cert = r.scalar(n["cert"], field("cert"));
  if (n["key"]) id.key = r.scalar(n["key"], field("key"));
  if (id.cert.empty() != id.key.empty()) r.fail(n, key, "give both cert and key (an existing PKI's files), or neither");
  if (n["roots"]) id.roots = r.scalars(n["roots"], field("roots"));
  if (n["cert_ttl"]) {
    id.cert_ttl = r.duration(n["cert_ttl"], field("cert_ttl"));
    if (id.cert_ttl < Duration(2'000)) r.fail(n["cert_ttl"], field("cert_ttl"), "must be 2s or more");
  }
  if (const auto& ca = n["ca"]) {
    if (ca.IsScalar()) {
      std::string v = ca.Scalar();
      if (v == "local") id.ca = IdentityConfig::Ca::kLocal;
      else if (v == "none") id.ca = IdentityConfig::Ca::kNone;
      else r.fail(ca, field("ca"), "expected local, none, { dir: DIR } or { address: HOST:PORT, token_file: FILE, root: FILE }");
    } else {
      r.only_keys(ca, field("ca"), {"dir", "address", "token", "token_file", "root"});
      if (ca["dir"] && ca["address"]) r.fail(ca, field("ca"), "give either dir (a local CA) or address (a remote one)");
      if (ca["dir"]) {
        id.ca = IdentityConfig::Ca::kLocal;
        id.ca_dir = r.scalar(ca["dir"], field("ca.dir"));
      } else if (ca["address"]) {
        id.ca = IdentityConfig::Ca::kRemote;
        id.ca_address = r.address(ca["address"], field("ca.address"), 0, false);
        if (ca["token"]) id.ca_token = r.scalar(ca["token"], field("ca.token"));
        if (ca["token_file"]) id.ca_token_file = r.scalar(ca["token_file"], field("ca.token_file"));
        if (ca["root"]) id.ca_root = r.scalar(ca["root"], field("ca.root"));
      } else {
        r.fail(ca, field("ca"), "needs dir (a local CA) or address (a remote one)");
      }
    }
  }
  return id;
}

AuthzPolicy read_authorization(const Reader& r, const YAML::Node& n) {
  const std::string key = "authorization";
  r.only_keys(n, key, {"default", "rules"});
  AuthzPolicy::Default def = AuthzPolicy::Default::kAuto;
  if (n["default"]) {
    std::string v = r.scalar(n["default"], key + ".default");
    if (v == "allow") def = AuthzPolicy::Default::kAllow;
    else if (v == "deny") def = AuthzPolicy::Default::kDeny;
    else if (v != "auto") r.fail(n["default"], key + ".default", "expected auto, allow or deny, got '" + v + "'");
  }
  std::vector<AuthzRule> rules;
  if (const auto& list = n["rules"]) {
    if (!list.IsSequence()) r.fail(list, key + ".rules", "expected a list of rules");
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node& rn = list[i];
      std::string rk = key + ".rules[" + std::to_string(i) + "]";
      r.only_keys(rn, rk, {"name", "action", "from", "to", "door"});
      AuthzRule rule;
      rule.name = rn["name"] ? r.scalar(rn["name"], Reader::join(rk, "name")) : "rule" + std::to_string(i);
      std::string action = rn["action"] ? r.scalar(rn["action"], Reader::join(rk, "action")) : "";
      if (action != "allow" && action != "deny") r.fail(rn, Reader::join(rk, "action"), "expected allow or deny");
      rule.allow = action == "allow";
      if (const auto& from = rn["from"]) {
        std::string fk = Reader::join(rk, "from");
        r.only_keys(from, fk, {"spiffe", "node", "uid", "gid"});
        if (from["spiffe"]) rule.spiffe = r.scalars(from["spiffe"], Reader::join(fk, "spiffe"));
        for (const auto& p : rule.spiffe) {
          if (auto err = AuthzPolicy::check_spiffe_pattern(p); !err.empty()) r.fail(from["spiffe"], Reader::join(fk, "spiffe"), err);
        }
        if (from["node"]) rule.node = r.scalars(from["node"], Reader::join(fk, "node"));
        for (auto [k, out, is_group] : {std::tuple{"uid", &rule.uid, false}, std::tuple{"gid", &rule.gid, true}}) {
          if (!from[k]) continue;
          for (const std::string& text : r.scalars(from[k], Reader::join(fk, k))) {
            auto id = account_id(text, is_group);
            if (!id) r.fail(from[k], Reader::join(fk, k), std::string("no such ") + (is_group ? "group" : "user") + " '" + text + "'");
            out->push_back(*id);
          }
        }
      }
      if (const auto& to = rn["to"]) {
        std::string tk = Reader::join(rk, "to");
        r.only_keys(to, tk, {"host", "port", "sni"});
        for (auto [k, out] : {std::pair{"host", &rule.host}, std::pair{"sni", &rule.sni}}) {
          if (!to[k]) continue;
          *out = r.scalars(to[k], Reader::join(tk, k));
          for (const auto& p : *out) {
            if (auto err = Router::validate_pattern(p); !err.empty()) r.fail(to[k], Reader::join(tk, k), err);
          }
        }
        if (to["port"]) {
          const YAML::Node& ports = to["port"];
          std::string pk = Reader::join(tk, "port");
          if (ports.IsScalar()) rule.port.push_back(static_cast<uint16_t>(r.number(ports, pk, 65535)));
          for (size_t j = 0; ports.IsSequence() && j < ports.size(); ++j)
            rule.port.push_back(static_cast<uint16_t>(r.number(ports[j], pk, 65535)));
        }
      }
      if (rn["door"]) rule.door = r.scalars(rn["door"], Reader::join(rk, "door"));
      rules.push_back(std::move(rule));
    }
  }
  return AuthzPolicy(std::move(rules), def);
}

}  // namespace ugate::config_yaml

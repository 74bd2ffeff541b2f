// Authorization rules: pure data and a matcher, no sockets.
#include "policy/authz.h"

#include <gtest/gtest.h>

namespace ugate {
namespace {

AuthzRequest mesh_from(std::string_view spiffe, std::string_view host = "db.internal", uint16_t port = 5432) {
  AuthzRequest r;
  r.protocol = "mesh";
  r.listener = "mesh";
  r.peer_spiffe = spiffe;
  r.peer_node = "node-a";
  r.host = host;
  r.port = port;
  r.trust_domain = "cluster.local";
  return r;
}

TEST(Authz, DefaultOnTheMeshPortIsTheSameTrustDomainOnly) {
  AuthzPolicy p;
  EXPECT_TRUE(p.decide(mesh_from("spiffe://cluster.local/ns/a/sa/b")).allow);
  EXPECT_FALSE(p.decide(mesh_from("spiffe://other.test/ns/a/sa/b")).allow);
  EXPECT_FALSE(p.decide(mesh_from("")).allow);
  AuthzRequest local = mesh_from("");
  local.protocol = "tcp";
  local.listener = "web";
  EXPECT_TRUE(p.decide(local).allow) << "doors without identities are as they were";
  EXPECT_EQ(p.rule_name(p.decide(local)), "default");
  EXPECT_FALSE(AuthzPolicy({}, AuthzPolicy::Default::kDeny).decide(local).allow);
  EXPECT_TRUE(AuthzPolicy({}, AuthzPolicy::Default::kAllow).decide(mesh_from("spiffe://other.test/x")).allow);
}

TEST(Authz, FirstMatchingRuleDecides) {
  std::vector<AuthzRule> rules(3);
  rules[0] = {"no-db-for-dev", false, {"cluster.local/ns/dev/*"}, {}, {}, {}, {}, {5432}};
  rules[1] = {"partners", true, {"spiffe://partner.test/*"}, {}, {"*.internal"}, {}, {"mesh"}, {}};
  rules[2] = {"by-node", false, {}, {"node-x"}, {}, {}, {}, {}};
  AuthzPolicy p(rules, AuthzPolicy::Default::kAuto);
  auto d = p.decide(mesh_from("spiffe://cluster.local/ns/dev/sa/app"));
  EXPECT_FALSE(d.allow);
  EXPECT_EQ(p.rule_name(d), "no-db-for-dev");
  EXPECT_TRUE(p.decide(mesh_from("spiffe://cluster.local/ns/dev/sa/app", "db.internal", 80)).allow);  // default
  d = p.decide(mesh_from("spiffe://partner.test/ns/x/sa/y", "api.internal", 443));
  EXPECT_TRUE(d.allow);
  EXPECT_EQ(d.rule, 1);
  EXPECT_FALSE(p.decide(mesh_from("spiffe://partner.test/ns/x/sa/y", "api.example", 443)).allow) << "host not listed";
  AuthzRequest r = mesh_from("spiffe://cluster.local/ns/prod/sa/a", "x", 1);
  r.peer_node = "node-x";
  EXPECT_EQ(p.rule_name(p.decide(r)), "by-node");
}

TEST(Authz, UidAndGidMatchOnlyUnixSocketClients) {
  AuthzRule by_uid{"app-user", true};
  by_uid.uid = {1000, 1001};
  AuthzRule by_gid{"ops-group", true};
  by_gid.gid = {50};
  AuthzPolicy p({by_uid, by_gid}, AuthzPolicy::Default::kDeny);
  AuthzRequest r;
  r.protocol = "http-proxy";
  r.listener = "local";
  r.host = "example.com";
  r.port = 443;
  UnixPeer peer{4242, 1001, 100};
  r.unix_peer = &peer;
  auto d = p.decide(r);
  EXPECT_TRUE(d.allow);
  EXPECT_EQ(p.rule_name(d), "app-user");
  peer.uid = 65534;  // nobody
  EXPECT_FALSE(p.decide(r).allow);
  EXPECT_EQ(p.rule_name(p.decide(r)), "default");
  peer.gid = 50;
  EXPECT_EQ(p.rule_name(p.decide(r)), "ops-group");
  r.unix_peer = nullptr;  // a TCP client has no uid, whatever the rule's number
  by_uid.uid = {0};
  EXPECT_FALSE(AuthzPolicy({by_uid}, AuthzPolicy::Default::kDeny).decide(r).allow);
}

TEST(Authz, SniAndDoorAndPatterns) {
  std::vector<AuthzRule> rules(1);
  rules[0] = {"sni", false, {"*/sa/admin"}, {}, {}, {"*.secret.test"}, {"edge"}, {}};
  AuthzPolicy p(rules, AuthzPolicy::Default::kAllow);
  AuthzRequest r = mesh_from("spiffe://cluster.local/ns/x/sa/admin");
  r.sni = "a.secret.test";
  EXPECT_TRUE(p.decide(r).allow) << "door 'edge' is neither this protocol nor this listener";
  r.listener = "edge";
  EXPECT_FALSE(p.decide(r).allow);
  r.sni = "";
  EXPECT_TRUE(p.decide(r).allow) << "a rule on SNI does not match a stream without one";
  EXPECT_EQ(AuthzPolicy::check_spiffe_pattern("spiffe://a/*"), "");
  EXPECT_EQ(AuthzPolicy::check_spiffe_pattern("*"), "");
  EXPECT_NE(AuthzPolicy::check_spiffe_pattern("a/*/b"), "");
  EXPECT_NE(AuthzPolicy::check_spiffe_pattern(""), "");
}

}  // namespace
}  // namespace ugate

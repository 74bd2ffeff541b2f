// The config's sections other than listeners: identity, authorization,
// discovery, nodes and remote accept, and the YAML document's shape.
#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string_view>

#include "config/config_test_util.h"

namespace ugate {
namespace {
using ::testing::HasSubstr;
using config_test::error_of;
using config_test::load;
}  // namespace
}  // namespace ugate
namespace ugate {
namespace {

TEST(ConfigIdentity, EveryKeyParses) {
  Config c = load(R"(
identity:
  trust_domain: mesh.test
  namespace: prod
  name: web
  dns: [web.example, web]
  cert: /etc/certs/cert-chain.pem
  key: /etc/certs/key.pem
  roots: [/etc/certs/root-cert.pem, /etc/other/root.pem]
  cert_ttl: 12h
  ca: { address: gw.example:15008, token_file: /etc/ugate/token, root: /etc/ugate/mesh-root.pem }
listeners:
  - { name: mesh, address: "0.0.0.0:+8", protocol: mesh, handshake_timeout: 3s }
  - name: sni
    address: 127.0.0.1:8443
    protocol: tls-sni
    routes:
      - { sni: a.test, forward: 127.0.0.1:1, terminate: { cert: a.crt, key: a.key, alpn: [h2, http/1.1] } }
      - { sni: b.test, forward: 127.0.0.1:2, terminate: node }
)");
  EXPECT_EQ(c.identity.trust_domain, "mesh.test");
  EXPECT_EQ(c.identity.ns, "prod");
  EXPECT_EQ(c.identity.dns.size(), 2u);
  EXPECT_EQ(c.identity.roots.size(), 2u);
  EXPECT_EQ(c.identity.cert_ttl, Duration(12 * 3600 * 1000));
  EXPECT_EQ(c.identity.ca, IdentityConfig::Ca::kRemote);
  EXPECT_EQ(c.identity.ca_address.str(), "gw.example:15008");
  EXPECT_EQ(c.listeners[0].address.port, 15008);
  EXPECT_EQ(c.listeners[0].handshake_timeout, Duration(3000));
  EXPECT_TRUE(c.listeners[0].router.routes().empty());  // the mesh port needs no route
  const auto& routes = c.listeners[1].router.routes();
  EXPECT_EQ(routes[0].terminate->cert, "a.crt");
  EXPECT_EQ(routes[0].terminate->alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_TRUE(routes[1].terminate->cert.empty());
  EXPECT_EQ(to_json(c)["identity"]["ca"]["token_file"], "/etc/ugate/token");
}

TEST(ConfigIdentity, ErrorsNameTheKey) {
  EXPECT_THAT(error_of("identity: { trust_domain: Bad_Domain }"),
              HasSubstr("test.yaml:1: identity.trust_domain: invalid character 'B'"));
  EXPECT_THAT(error_of("identity: { cert: a.pem }"), HasSubstr("identity: give both cert and key"));
  EXPECT_THAT(error_of("identity: { name: 'a/b' }"), HasSubstr("identity.name: invalid character '/'"));
  EXPECT_THAT(error_of("identity: { ca: remote }"), HasSubstr("identity.ca: expected local, none"));
  EXPECT_THAT(error_of("identity: { cert_ttl: 1s }"), HasSubstr("identity.cert_ttl: must be 2s or more"));
  EXPECT_THAT(error_of("listeners: [ { address: '127.0.0.1:1', forward: '127.0.0.1:2', protocol: tcp, "
                       "routes: [] } ]"),
              HasSubstr("either 'forward' or 'routes'"));
  EXPECT_THAT(error_of("listeners:\n  - address: '127.0.0.1:1'\n    routes: [ { forward: '127.0.0.1:2', terminate: node } ]\n"),
              HasSubstr("listeners[0].routes[0].terminate: only tls-sni and auto listeners terminate TLS per route"));
  EXPECT_THAT(error_of("listeners:\n  - { address: '127.0.0.1:1', protocol: tls-sni, routes: [ { forward: '127.0.0.1:2', "
                       "terminate: { cert: a } } ] }\n"),
              HasSubstr("give both cert and key"));
}

}  // namespace
}  // namespace ugate

namespace ugate {
namespace {

TEST(ConfigAuthorization, RulesParseAndErrorsNameTheKey) {
  Config c = load(R"(
authorization:
  default: deny
  rules:
    - name: no-dev-db
      action: deny
      from: { spiffe: "spiffe://cluster.local/ns/dev/*", node: [abc] }
      to: { host: ["*.db.internal"], port: [5432, 5433], sni: db.example }
      door: [mesh, web]
    - { action: allow, from: { spiffe: "*" } }
)");
  const auto& p = c.authorization;
  EXPECT_EQ(p.default_action(), AuthzPolicy::Default::kDeny);
  ASSERT_EQ(p.rules().size(), 2u);
  EXPECT_FALSE(p.rules()[0].allow);
  EXPECT_EQ(p.rules()[0].port, (std::vector<uint16_t>{5432, 5433}));
  EXPECT_EQ(p.rules()[0].sni, std::vector<std::string>{"db.example"});
  EXPECT_EQ(p.rules()[1].name, "rule1");
  EXPECT_EQ(to_json(c)["authorization"]["rules"][0]["to"]["port"][1], 5433);
  EXPECT_THAT(error_of("authorization: { default: maybe }"),
              HasSubstr("test.yaml:1: authorization.default: expected auto, allow or deny"));
  EXPECT_THAT(error_of("authorization: { rules: [ { action: permit } ] }"),
              HasSubstr("authorization.rules[0].action: expected allow or deny"));
  EXPECT_THAT(error_of("authorization: { rules: [ { action: deny, from: { spiffe: 'a*b' } } ] }"),
              HasSubstr("authorization.rules[0].from.spiffe: '*' only as the whole pattern"));
  EXPECT_THAT(error_of("authorization: { rules: [ { action: deny, to: { port: 70000 } } ] }"),
              HasSubstr("authorization.rules[0].to.port: expected a whole number from 0 to 65535"));
}

TEST(ConfigAuthorization, FromUidAndGid) {
  Config c = load(R"(
authorization:
  rules:
    - { action: allow, from: { uid: [1000, root] } }
    - { action: deny, from: { gid: 0 } }
)");
  const auto& p = c.authorization;
  EXPECT_EQ(p.rules()[0].uid, (std::vector<uint32_t>{1000, 0}));
  EXPECT_EQ(p.rules()[1].gid, (std::vector<uint32_t>{0}));
  EXPECT_EQ(to_json(c)["authorization"]["rules"][0]["from"]["uid"][0], 1000);
  EXPECT_THAT(error_of("authorization: { rules: [ { action: deny, from: { uid: no-such-user-here } } ] }"),
              HasSubstr("authorization.rules[0].from.uid: no such user 'no-such-user-here'"));
}

TEST(DiscoveryConfig, OffByDefaultOnWithDefaults) {
  EXPECT_FALSE(load("").discovery.enabled);
  EXPECT_EQ(to_json(load("")).at("discovery"), "off");
  DiscoveryConfig d = load("discovery: on").discovery;
  EXPECT_TRUE(d.enabled);
  EXPECT_EQ(d.port, 5227);
  EXPECT_EQ(d.interval, std::chrono::seconds(10));
  EXPECT_EQ(d.ttl, std::chrono::seconds(30));
  EXPECT_EQ(d.max_clock_skew, std::chrono::seconds(60));
  EXPECT_TRUE(d.interfaces.empty());
  EXPECT_FALSE(load("discovery: off").discovery.enabled);
}

TEST(DiscoveryConfig, EveryKey) {
  DiscoveryConfig d =
      load("discovery: { port: 6000, interval: 2s, ttl: 9s, max_clock_skew: 5m, interfaces: [eth0, wlan0] }").discovery;
  EXPECT_TRUE(d.enabled);
  EXPECT_EQ(d.port, 6000);
  EXPECT_EQ(d.interval, std::chrono::seconds(2));
  EXPECT_EQ(d.ttl, std::chrono::seconds(9));
  EXPECT_EQ(d.max_clock_skew, std::chrono::minutes(5));
  EXPECT_EQ(d.interfaces, (std::vector<std::string>{"eth0", "wlan0"}));
  EXPECT_EQ(load("discovery: { interval: 1s }").discovery.ttl, std::chrono::seconds(3)) << "ttl follows the interval";
  EXPECT_FALSE(load("discovery: { enabled: false, port: 6000 }").discovery.enabled);
  auto j = to_json(load("discovery: { interval: 2s }")).at("discovery");
  EXPECT_EQ(j.at("interval"), "2s");
  EXPECT_EQ(j.at("ttl"), "6s");
}

TEST(DnsConfig, EveryKeyAndTheEcho) {
  DnsConfig d = load("dns: { zone: mesh.internal., ipv4_range: 10.99.0.0/16, ipv6_range: 'fd00:0:0:99::/64', ttl: 5, "
                     "upstreams: ['10.0.0.1:53', '[::1]:5353'], timeout: 300ms, attempts: 3, cache_entries: 10, "
                     "max_cache_ttl: 600 }").dns;
  EXPECT_EQ(d.zone, "mesh.internal");
  EXPECT_EQ(d.ipv4_range.str(), "10.99.0.0/16");
  EXPECT_EQ(d.ipv6_range.str(), "fd00:0:0:99::/64");
  EXPECT_EQ(d.ttl, 5u);
  ASSERT_EQ(d.upstreams.size(), 2u);
  EXPECT_EQ(d.upstreams[1].port, 5353);
  EXPECT_EQ(d.timeout, std::chrono::milliseconds(300));
  EXPECT_EQ(d.attempts, 3u);
  EXPECT_EQ(d.cache_entries, 10u);
  EXPECT_EQ(d.max_cache_ttl, 600u);
  auto j = to_json(load("")).at("dns");
  EXPECT_EQ(j.at("ipv4_range"), "240.240.0.0/16");
  EXPECT_EQ(j.at("upstreams"), "/etc/resolv.conf");
  EXPECT_TRUE(j.at("zone").is_null());
}

TEST(DnsConfig, ErrorsNameTheKey) {
  EXPECT_THAT(error_of("dns: { zone: '.bad' }"), HasSubstr("dns.zone: expected a domain name"));
  EXPECT_THAT(error_of("dns: { ipv4_range: 'fd00::/64' }"), HasSubstr("dns.ipv4_range: expected an IPv4 range"));
  EXPECT_THAT(error_of("dns: { ipv4_range: 10.0.0.0/31 }"), HasSubstr("too narrow"));
  EXPECT_THAT(error_of("dns: { upstreams: ['resolver.example:53'] }"), HasSubstr("dns.upstreams[0]: expected an IP"));
  EXPECT_THAT(error_of("dns: { attempts: 0 }"), HasSubstr("dns.attempts: must be 1 or more"));
  EXPECT_THAT(error_of("dns: { servers: [] }"), HasSubstr("dns.servers: unknown key"));
  EXPECT_THAT(error_of("listeners: [ { name: d, address: '127.0.0.1:0', protocol: dns, forward: 'x:1' } ]"),
              HasSubstr("a dns listener answers itself"));
}

TEST(DiscoveryConfig, ErrorsNameTheKey) {
  EXPECT_THAT(error_of("discovery: maybe"), HasSubstr("test.yaml:1: discovery: expected true or false"));
  EXPECT_THAT(error_of("discovery: { port: 0 }"), HasSubstr("discovery.port: must be above 0"));
  EXPECT_THAT(error_of("discovery: { interval: 10ms }"), HasSubstr("discovery.interval: must be 100ms or more"));
  EXPECT_THAT(error_of("discovery: { interval: 5s, ttl: 5s }"), HasSubstr("discovery.ttl: must be longer than the interval"));
  EXPECT_THAT(error_of("discovery: { max_clock_skew: 0s }"), HasSubstr("discovery.max_clock_skew: must be 1s or more"));
  EXPECT_THAT(error_of("discovery: { group: 224.0.0.1 }"), HasSubstr("discovery.group: unknown key"));
}

}  // namespace
}  // namespace ugate

namespace ugate {
namespace {

TEST(ConfigNodes, NodesAndViaParse) {
  Config c = load(R"(
nodes:
  gw: { address: 10.0.0.1:+8, id: spiffe://cluster.local/ns/default/sa/gw }
  b: { address: "[fd00::2]:15008", id: abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst, via: gw }
listeners:
  - { name: out, address: 127.0.0.1:9000, protocol: socks5, via: gw }
  - { name: web, address: 127.0.0.1:9001, forward: b:8080 }
)");
  ASSERT_EQ(c.nodes.size(), 2u);
  EXPECT_EQ(c.nodes[0].name, "gw");
  EXPECT_EQ(c.nodes[0].address.str(), "10.0.0.1:15008");
  EXPECT_EQ(c.nodes[1].via, "gw");
  EXPECT_EQ(c.nodes[1].address.str(), "[fd00::2]:15008");
  EXPECT_EQ(c.listeners[0].via, "gw");
  nlohmann::json j = to_json(c);
  EXPECT_EQ(j["nodes"]["b"]["via"], "gw");
  EXPECT_EQ(j["listeners"][0]["via"], "gw");
  EXPECT_EQ(j["mesh"]["connect_timeout"], "5s");
  EXPECT_EQ(j["remote_accept"], "off");
  EXPECT_EQ(c.nodes[0].workload_address, "127.0.0.1") << "the node's loopback unless said otherwise";
  EXPECT_FALSE(j["nodes"]["gw"].contains("workload_address"));
}

TEST(ConfigNodes, WorkloadAddressIsTheHostOfConnectsToTheNode) {
  Config c = load(R"(
nodes:
  zt: { address: 10.0.0.7:15008, id: spiffe://cluster.local/ns/default/sa/app, workload_address: 10.0.0.7 }
  zt6: { address: "[fd00::7]:15008", id: spiffe://cluster.local/ns/default/sa/app, workload_address: "fd00::7" }
)");
  EXPECT_EQ(c.nodes[0].workload_address, "10.0.0.7");
  EXPECT_EQ(c.nodes[1].workload_address, "fd00::7");
  EXPECT_EQ(to_json(c)["nodes"]["zt"]["workload_address"], "10.0.0.7");
}

TEST(ConfigNodes, RemoteAcceptNamesGatewaysAndAReverseOnlyNodeHasNoAddress) {
  Config c = load(R"(
nodes:
  gw: { address: 203.0.113.1:15008, id: spiffe://cluster.local/ns/default/sa/gw }
  phone: { id: spiffe://cluster.local/ns/default/sa/phone }
remote_accept: { gateways: [gw], backoff_min: 500ms, backoff_max: 1m, proxy_protocol: v2 }
)");
  EXPECT_EQ(c.remote_accept.gateways, std::vector<std::string>{"gw"});
  EXPECT_EQ(c.remote_accept.backoff_min, Duration(500));
  EXPECT_EQ(c.remote_accept.backoff_max, Duration(60'000));
  EXPECT_EQ(c.remote_accept.listener.name, "remote-accept");
  EXPECT_EQ(to_string(c.remote_accept.listener.protocol), "mesh");
  EXPECT_TRUE(c.remote_accept.listener.proxy_protocol);
  EXPECT_EQ(c.nodes[1].address.port, 0);
  nlohmann::json j = to_json(c);
  EXPECT_FALSE(j["nodes"]["phone"].contains("address"));
  EXPECT_EQ(j["remote_accept"]["backoff_max"], "1m");
  EXPECT_EQ(load("nodes: { gw: { address: '1.2.3.4:1', id: spiffe://td/ns/a/sa/gw } }\nremote_accept: [gw]")
                .remote_accept.backoff_max,
            Duration(900'000));
}

TEST(ConfigNodes, RegistrationTokensAndTokenFile) {
  const std::string key = "BGcJ8znLySVQg9f1NrdUlr7Ggq6hxpSYfHmEgZQy1Vv1Gev1IY65pwLv-WTb4CQ-EOA2-7FoDLRwY5z39jcY_S8";
  Config c = load("registration_tokens: { issuers: ['" + key + "'], max_lifetime: 24h }\n"
                  "nodes: { gw: { address: '1.2.3.4:1', id: spiffe://td/ns/a/sa/gw } }\n"
                  "remote_accept: { gateways: [gw], token_file: /etc/ugate/phone.token }");
  EXPECT_EQ(c.registration_tokens.issuers, std::vector<std::string>{key});
  EXPECT_EQ(c.registration_tokens.max_lifetime, Duration(24 * 3'600'000));
  EXPECT_EQ(c.remote_accept.token_file, "/etc/ugate/phone.token");
  nlohmann::json j = to_json(c);
  EXPECT_EQ(j["registration_tokens"]["max_lifetime"], "24h");
  EXPECT_EQ(j["remote_accept"]["token_file"], "/etc/ugate/phone.token");
  EXPECT_EQ(to_json(load(""))["registration_tokens"], "off");
  EXPECT_THAT(error_of("registration_tokens: { issuers: [nope] }"),
              HasSubstr("registration_tokens.issuers: expected a base64url uncompressed P-256 public key (65 octets), got 'nope'"));
  std::string off_curve = key;
  off_curve[10] = off_curve[10] == 'A' ? 'B' : 'A';
  EXPECT_THAT(error_of("registration_tokens: { issuers: ['" + off_curve + "'] }"),
              HasSubstr("registration_tokens.issuers: expected a base64url uncompressed P-256 public key"));
  EXPECT_THAT(error_of("registration_tokens: { max_lifetime: 1h }"), HasSubstr("registration_tokens: missing 'issuers"));
}

TEST(ConfigNodes, ErrorsNameTheKey) {
  const std::string id = "id: spiffe://cluster.local/ns/default/sa/x";
  EXPECT_THAT(error_of("nodes: [ a ]"), HasSubstr("test.yaml:1: nodes: expected a mapping of NAME: { address, id, via, workload_address }"));
  EXPECT_THAT(error_of("nodes: { Bob: { address: '1.2.3.4:1', " + id + " } }"),
              HasSubstr("nodes.Bob: 'Bob' is not a DNS label"));
  EXPECT_THAT(error_of("remote_accept: [gw]"), HasSubstr("remote_accept: unknown node 'gw' (define the gateway under nodes)"));
  EXPECT_THAT(error_of("nodes: { gw: { " + id + " } }\nremote_accept: [gw]"),
              HasSubstr("remote_accept: gateway 'gw' needs an address under nodes"));
  EXPECT_THAT(error_of("remote_accept: { gateway: [gw] }"), HasSubstr("remote_accept.gateway: unknown key"));
  EXPECT_THAT(error_of("nodes: { gw: { address: '1.2.3.4:1', " + id + " } }\n"
                       "remote_accept: { gateways: [gw], backoff_min: 2s, backoff_max: 1s }"),
              HasSubstr("remote_accept.backoff_max: must not be below backoff_min"));
  EXPECT_THAT(error_of("nodes: { b: { address: '1.2.3.4:1' } }"), HasSubstr("nodes.b: missing 'id'"));
  EXPECT_THAT(error_of("nodes:\n  b: { address: '1.2.3.4:1', " + id + ", workload_address: pod.example }"),
              HasSubstr("test.yaml:2: nodes.b.workload_address: expected the IP address of the node's workload "
                        "(IPv6 without brackets), got 'pod.example'"));
  EXPECT_THAT(error_of("nodes: { b: { address: '1.2.3.4:1', " + id + ", workload_address: '[fd00::7]' } }"),
              HasSubstr("nodes.b.workload_address: expected the IP address"));
  EXPECT_THAT(error_of("nodes: { b: { address: '1.2.3.4:1', id: bob } }"),
              HasSubstr("nodes.b.id: expected a SPIFFE ID (spiffe://...) or a node ID"));
  EXPECT_THAT(error_of("nodes: { b: { address: '1.2.3.4:1', id: 'spiffe://Bad' } }"),
              HasSubstr("nodes.b.id: 'spiffe://Bad' is not a valid SPIFFE ID"));
  EXPECT_THAT(error_of("nodes: { b: { address: '1.2.3.4:1', " + id + ", via: nope } }"),
              HasSubstr("nodes.b.via: unknown node 'nope'"));
  EXPECT_THAT(error_of("nodes:\n  a: { address: '1.2.3.4:1', " + id + ", via: b }\n  b: { address: '1.2.3.4:1', " + id +
                       ", via: a }\n"),
              HasSubstr("a path of more than 3 nodes (or a loop)"));
  EXPECT_THAT(error_of("nodes: { b: { address: '1.2.3.4:1', " + id + ", port: 1 } }"),
              HasSubstr("nodes.b.port: unknown key"));
  EXPECT_THAT(error_of("listeners: [ { address: '127.0.0.1:1', protocol: socks5, via: gw } ]"),
              HasSubstr("listeners[0].via: unknown node 'gw' (define it under nodes)"));
  EXPECT_THAT(error_of("listeners: [ { address: '127.0.0.1:1', protocol: udp, forward: '1.2.3.4:5', via: gw } ]"),
              HasSubstr("listeners[0].via: only for listeners that dial TCP destinations (not udp)"));
  EXPECT_THAT(error_of("mesh: { connect_timeout: 0s }"), HasSubstr("mesh.connect_timeout: must be above 0"));
}

}  // namespace
}  // namespace ugate

namespace ugate {
namespace {

TEST(ConfigProxyProtocol, V2OrOffAndOnlyWhereWholeStreamsAreForwarded) {
  Config c = load("listeners: [ { address: '127.0.0.1:1', protocol: mesh, proxy_protocol: v2 } ]");
  EXPECT_TRUE(c.listeners[0].proxy_protocol);
  EXPECT_EQ(to_json(c)["listeners"][0]["proxy_protocol"], "v2");
  EXPECT_THAT(error_of("listeners: [ { address: '127.0.0.1:1', forward: '1.2.3.4:5', proxy_protocol: v1 } ]"),
              HasSubstr("listeners[0].proxy_protocol: expected v2 or off, got 'v1'"));
  EXPECT_THAT(error_of("listeners: [ { address: '127.0.0.1:1', protocol: http-proxy, proxy_protocol: v2 } ]"),
              HasSubstr("only for listeners that forward whole streams (not http-proxy)"));
}

}  // namespace
}  // namespace ugate

namespace ugate {
namespace {

TEST(ConfigYaml, DuplicateKeysAreRejectedWithFileLineAndKeyPath) {
  EXPECT_EQ(error_of("workers: 2\nlog_level: info\nworkers: 3\n"),
            "test.yaml:3: workers: duplicate key (first given on line 1)");
  EXPECT_EQ(error_of("'workers': 2\nworkers: 3\n"), "test.yaml:2: workers: duplicate key (first given on line 1)")
      << "quoted or not, it is the same key";
  EXPECT_EQ(error_of("listeners:\n  - name: a\n    address: 'a:1'\n    forward: 'b:2'\n    address: 'a:3'\n"),
            "test.yaml:5: listeners[0].address: duplicate key (first given on line 3)");
  EXPECT_EQ(error_of("listeners:\n  - { address: 'a:1', forward: 'b:2' }\n"
                     "  - { address: 'a:2', forward: 'b:2', forward: 'c:3' }\n"),
            "test.yaml:3: listeners[1].forward: duplicate key (first given on line 3)");
  EXPECT_EQ(error_of("listeners:\n  - address: 'a:1'\n    protocol: tls-sni\n    routes:\n"
                     "      - sni: a.test\n        forward: 'b:1'\n        sni: b.test\n"),
            "test.yaml:7: listeners[0].routes[0].sni: duplicate key (first given on line 5)");
  EXPECT_EQ(error_of("identity:\n  name: a\n  ca: { dir: /x, dir: /y }\n"),
            "test.yaml:3: identity.ca.dir: duplicate key (first given on line 3)");
  EXPECT_EQ(error_of("identity:\n  name: a\n  name: b\n"), "test.yaml:3: identity.name: duplicate key (first given on line 2)");
  EXPECT_EQ(error_of("mesh:\n  max_frame: 16KiB\n  connect_timeout: 1s\n  max_frame: 1MiB\n"),
            "test.yaml:4: mesh.max_frame: duplicate key (first given on line 2)");
  EXPECT_EQ(error_of("nodes:\n  gw: { address: 10.0.0.1:+8, id: spiffe://cluster.local/ns/default/sa/gw }\n"
                     "  gw: { address: 10.0.0.2:+8, id: spiffe://cluster.local/ns/default/sa/other }\n"),
            "test.yaml:3: nodes.gw: duplicate key (first given on line 2)");
  EXPECT_EQ(error_of("authorization:\n  rules:\n    - action: allow\n      to: { port: 1, port: 2 }\n"),
            "test.yaml:4: authorization.rules[0].to.port: duplicate key (first given on line 4)");
  EXPECT_EQ(error_of("~: 1\nnull: 2\n"), "test.yaml:2: null: duplicate key (first given on line 1)");
  EXPECT_EQ(error_of("&k workers: 2\n*k : 3\n"), "test.yaml:2: workers: duplicate key (first given on line 1)")
      << "an alias to a key is that key";
  // The same key in different mappings, and aliases, are fine.
  Config c = load("listeners:\n  - { name: a, address: 'a:1', forward: &f 'b:2' }\n"
                  "  - { name: b, address: 'a:2', forward: *f }\n");
  EXPECT_EQ(c.listeners[1].router.routes().at(0).forward.str(), "b:2");
  // The check does not expand aliases: ten levels of ten aliases each (10^10 leaves) cost nothing.
  std::string laughs = "x0: &l0 [a, a, a, a, a, a, a, a, a, a]\n";
  for (int i = 1; i <= 10; ++i) {
    std::string ref = "*l" + std::to_string(i - 1);
    laughs += "x" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + ref;
    for (int j = 1; j < 10; ++j) laughs += ", " + ref;
    laughs += "]\n";
  }
  EXPECT_THAT(error_of(laughs), HasSubstr("test.yaml:1: x0: unknown key"));
}

TEST(ConfigYaml, KeysMustBeSingleValues) {
  // yaml-cpp would throw its own exception (not a ConfigError) reading such a key as a string.
  EXPECT_EQ(error_of("[a, b]: 1\n"), "test.yaml:1: (top level): a key must be a single value, not a list or mapping");
  EXPECT_EQ(error_of("listeners:\n  - { address: 'a:1', forward: 'b:2', { x: 1 }: y }\n"),
            "test.yaml:2: listeners[0]: a key must be a single value, not a list or mapping");
  EXPECT_EQ(error_of("workers: &m [1]\n*m : 2\n"),
            "test.yaml:2: (top level): a key must be a single value, not a list or mapping");
}

std::string repeat(std::string_view s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

TEST(ConfigYaml, DeepNestingIsAClearErrorNotACrash) {
  const std::string too_deep = "invalid YAML: nesting deeper than 100 levels";
  // Flow collections: yaml-cpp alone says "bad file", at the end of the text.
  EXPECT_EQ(error_of(repeat("[", 10'000) + repeat("]", 10'000)), "test.yaml:1: " + too_deep);
  EXPECT_EQ(error_of(repeat("{a: ", 10'000) + "1" + repeat("}", 10'000)), "test.yaml:1: " + too_deep);
  EXPECT_EQ(error_of(repeat("[a: ", 10'000)), "test.yaml:1: " + too_deep);
  EXPECT_EQ(error_of(repeat("[", 100'000)), "test.yaml:1: " + too_deep) << "unclosed";
  // The line is the one where the 101st level starts.
  EXPECT_EQ(error_of("listeners:\n" + repeat("  [\n", 10'000) + repeat("  ]\n", 10'000)), "test.yaml:101: " + too_deep);
  std::string block;  // a: / a: / ... each indented one more
  for (size_t i = 0; i < 1'000; ++i) block += std::string(i, ' ') + "a:\n";
  EXPECT_EQ(error_of(block), "test.yaml:101: " + too_deep);
  std::string list = "listeners:\n";  // - / - / ... each indented one more
  for (size_t i = 0; i < 1'000; ++i) list += std::string(2 * i + 2, ' ') + "-\n";
  EXPECT_EQ(error_of(list), "test.yaml:101: " + too_deep);
  // A list of lists through a recursive alias is not nesting.
  EXPECT_THAT(error_of("listeners: &l [*l]\n"), HasSubstr("test.yaml:1: listeners[0]: expected a mapping"));
  // 100 levels are allowed (the schema then refuses the content), 101 are not.
  EXPECT_EQ(error_of("workers: " + repeat("[", 99) + repeat("]", 99) + "\n"), "test.yaml:1: workers: expected a single value");
  EXPECT_EQ(error_of("workers: " + repeat("[", 100) + repeat("]", 100) + "\n"), "test.yaml:1: " + too_deep);
}

TEST(ConfigYaml, ParseErrorsKeepTheirLineColumnAndMessage) {
  EXPECT_EQ(error_of("a: [\n"), "test.yaml:2: invalid YAML: end of sequence flow not found (column 1)");
  EXPECT_EQ(error_of("workers: 1\n  log_level: info\n"), "test.yaml:2: invalid YAML: illegal map value (column 12)");
  EXPECT_EQ(error_of("log_level: \"\\q\"\n"), "test.yaml:1: invalid YAML: unknown escape character: q (column 15)");
  EXPECT_EQ(error_of("workers: *nowhere\n"), "test.yaml:1: invalid YAML: the referenced anchor is not defined (column 10)");
}

TEST(ConfigYaml, FileErrorsNameTheFile) {
  std::string path = ::testing::TempDir() + "ugate-config-yaml-test.yaml";
  auto error_of_file = [&](const std::string& text) -> std::string {
    { std::ofstream(path) << text; }
    try {
      load_config_file(path, {});
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(error_of_file("admin:\n  address: 127.0.0.1:+0\n  address: 127.0.0.1:+1\n"),
            path + ":3: admin.address: duplicate key (first given on line 2)");
  EXPECT_EQ(error_of_file(repeat("[", 10'000)), path + ":1: invalid YAML: nesting deeper than 100 levels");
  std::remove(path.c_str());
}

TEST(ConfigOverload, MemoryWatermarkTakesASizeAndIsEchoed) {
  EXPECT_EQ(load("").memory_watermark, 0u);
  EXPECT_EQ(load("overload: { memory_watermark: 2GiB }").memory_watermark, uint64_t{2} << 30);
  EXPECT_EQ(load("overload: { memory_watermark: 512MiB }").memory_watermark, uint64_t{512} << 20);
  EXPECT_EQ(to_json(load("overload: { memory_watermark: 1MiB }")).at("overload").at("memory_watermark"), 1u << 20);
  EXPECT_EQ(error_of("overload: { memory_watermark: 1000 }"),
            "test.yaml:1: overload.memory_watermark: expected a size from 1048576 to 1099511627776 bytes (a number, or "
            "with KiB, MiB or GiB), got '1000'");
  EXPECT_THAT(error_of("overload: { memory: 1GiB }"), HasSubstr("overload.memory: unknown key"));
}

}  // namespace
}  // namespace ugate

#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>

#include "config/config_test_util.h"

namespace ugate {
namespace {

using ::testing::HasSubstr;
using config_test::error_of;
using config_test::load;

TEST(Config, EmbeddedDefaultHasAdminOnBasePortTheCaptureDoorsTheMeshAndLoopbackProxies) {
  Config c = load_config_text(kEmbeddedDefaultConfig, "<embedded default>", {});
  ASSERT_TRUE(c.admin);
  EXPECT_EQ(c.admin->str(), "127.0.0.1:15000");
  std::map<std::string, const ListenerConfig*> doors;  // by protocol
  for (const auto& l : c.listeners) doors[std::string(to_string(l.protocol))] = &l;
  ASSERT_EQ(doors.size(), 8u);
  EXPECT_EQ(doors["mesh"]->address.str(), "0.0.0.0:15008") << "a node started with no config is a mesh node";
  EXPECT_EQ(doors["quic"]->address.str(), "0.0.0.0:15007");
  EXPECT_FALSE(doors["mesh"]->egress);
  EXPECT_FALSE(doors["quic"]->egress) << "mesh streams reach only this node's own addresses";
  EXPECT_EQ(doors["capture-out"]->address.str(), "0.0.0.0:15001");
  EXPECT_EQ(doors["capture-in"]->address.str(), "0.0.0.0:15006");
  EXPECT_FALSE(doors["capture-out"]->tproxy);
  EXPECT_EQ(doors["socks5"]->address.str(), "127.0.0.1:15005");
  EXPECT_EQ(doors["http-proxy"]->address.str(), "127.0.0.1:15002");
  EXPECT_EQ(doors["hbone-h2c"]->address.str(), "127.0.0.1:15009");
  EXPECT_EQ(doors["dns"]->address.str(), "127.0.0.1:15053");
  EXPECT_EQ(doors.count("tls-sni"), 0u) << "BASE+4 needs routes: none by default";
  for (const auto& l : c.listeners) {
    if (l.is(kProxy)) {
      EXPECT_EQ(l.address.host, "127.0.0.1") << l.name << ": never an open proxy";
    }
  }
  EXPECT_GE(c.workers, 1u);
  Config moved = load_config_text(kEmbeddedDefaultConfig, "<embedded default>", {.base_port = 20000});
  EXPECT_EQ(moved.admin->str(), "127.0.0.1:20000");
  EXPECT_EQ(moved.listeners.back().address.str(), "127.0.0.1:20053");
}

TEST(Config, QuicListenerIsUdpWithTheMeshIdentityAndNamesNoDestination) {
  // The same port number as a TCP listener: UDP and TCP are different sockets.
  Config c = load(R"(
listeners:
  - { name: mesh, address: "0.0.0.0:15008", protocol: mesh }
  - { name: quic, address: "0.0.0.0:15008", protocol: quic, handshake_timeout: 3s, egress: true }
)");
  const ListenerConfig& q = c.listeners.at(1);
  EXPECT_TRUE(q.is(kQuicTransport));
  EXPECT_TRUE(q.is(kMeshIdentity));
  EXPECT_EQ(q.handshake_timeout, std::chrono::seconds(3));
  EXPECT_TRUE(q.egress);
  EXPECT_THAT(error_of("listeners:\n  - { address: '0.0.0.0:1', protocol: quic, forward: '127.0.0.1:2' }\n"),
              HasSubstr("takes each stream's destination from its request"));
  EXPECT_THAT(error_of("listeners:\n  - { name: a, address: '0.0.0.0:1', protocol: quic }\n"
                       "  - { name: b, address: '0.0.0.0:1', protocol: udp, forward: 'x:2' }\n"),
              HasSubstr("already used by listener 'a'"));
  EXPECT_THAT(error_of("listeners:\n  - { address: '0.0.0.0:1', protocol: quic, accept_proxy_protocol: { from: [10.0.0.1] } }\n"),
              HasSubstr("only for listeners that accept TCP connections"));
}

TEST(Config, ProxyDoorsTakeUsersAndAnAllowList) {
  Config c = load(R"(
listeners:
  - name: socks
    address: 127.0.0.1:1080
    protocol: socks5
    udp_idle_timeout: 20s
    users:
      - { name: alice, password: s3cret }
    allow:
      - { host: "*.internal" }
      - { host: 10.0.0.1, port: 22 }
      - { port: 443 }
)");
  const auto& l = c.listeners.at(0);
  ASSERT_EQ(l.users.size(), 1u);
  EXPECT_EQ(l.users[0].password, "s3cret");
  EXPECT_EQ(l.udp_idle_timeout, Duration(20000));
  EXPECT_TRUE(l.router.routes().empty());
  EXPECT_TRUE(allows(l, {"db.internal", 5432}));
  EXPECT_TRUE(allows(l, {"10.0.0.1", 22}));
  EXPECT_FALSE(allows(l, {"10.0.0.1", 80}));
  EXPECT_TRUE(allows(l, {"example.com", 443}));
  EXPECT_FALSE(allows(l, {"example.com", 80}));
  auto j = to_json(c)["listeners"][0];
  EXPECT_EQ(j["users"], nlohmann::json::array({"alice"}));
  EXPECT_EQ(j.dump().find("s3cret"), std::string::npos) << "passwords never leave the config";
  EXPECT_EQ(j["allow"].size(), 3u);
  EXPECT_TRUE(allows(load("listeners: [ { address: 'a:1', protocol: socks5 } ]").listeners[0], {"any", 1}));
}

TEST(Config, ProxyDoorErrors) {
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: socks5, forward: 'b:2' }\n"),
              HasSubstr("test.yaml:2: listeners[0].forward: a socks5 listener's clients name the destination"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', forward: 'b:2', users: [] }\n"),
              HasSubstr("listeners[0].users: only for socks5, http-proxy and auto listeners"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: socks5, users: [ { name: 'a:b', password: p } ] }\n"),
              HasSubstr("listeners[0].users[0].name: expected 1 to 255 bytes without ':'"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: socks5, users: [ { name: a } ] }\n"),
              HasSubstr("listeners[0].users[0]: needs both name and password"));
  EXPECT_THAT(error_of("listeners:\n  - address: 'a:1'\n    protocol: socks5\n    users:\n      - { name: a, password: p }\n"
                       "      - { name: a, password: q }\n"),
              HasSubstr("test.yaml:6: listeners[0].users[1].name: duplicate user 'a'"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: socks5, allow: [ {} ] }\n"),
              HasSubstr("listeners[0].allow[0]: needs host, port or both"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: socks5, allow: [ { host: 'a b' } ] }\n"),
              HasSubstr("listeners[0].allow[0].host: invalid character ' '"));
}

// egress: whether the mesh port relays beyond this node (issue 21); off by
// default, on the mesh listener and on remote accept alike.
TEST(Config, EgressOfMeshListenersAndRemoteAccept) {
  Config c = load("nodes: { gw: { address: 'gw:15008', id: 'spiffe://td/ns/default/sa/gw' } }\n"
                  "remote_accept: { gateways: [gw], egress: true }\n"
                  "listeners:\n  - { name: m1, address: 'a:1', protocol: mesh }\n"
                  "  - { name: m2, address: 'a:2', protocol: mesh, egress: true }\n");
  EXPECT_FALSE(c.listeners[0].egress);
  EXPECT_TRUE(c.listeners[1].egress);
  EXPECT_TRUE(c.remote_accept.listener.egress);
  EXPECT_EQ(to_json(c)["listeners"][1]["egress"], true);
  EXPECT_EQ(to_json(c)["remote_accept"]["egress"], true);
  EXPECT_FALSE(load("listeners: []\n").remote_accept.listener.egress);
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: socks5, egress: true }\n"),
              HasSubstr("listeners[0].egress: only for mesh and quic listeners"));
}

// reach_admin: the node's admin port as a client-named destination (issue 14);
// response_timeout: an origin's answer to the HTTP proxy.
TEST(Config, ReachAdminAndResponseTimeout) {
  Config c = load("listeners:\n  - { address: 'a:1', protocol: http-proxy }\n"
                  "  - { address: 'a:2', protocol: socks5, reach_admin: true }\n"
                  "  - { address: 'a:3', protocol: auto, response_timeout: 5s }\n");
  EXPECT_FALSE(c.listeners[0].reach_admin);
  EXPECT_EQ(c.listeners[0].response_timeout, std::chrono::seconds(60));
  EXPECT_TRUE(c.listeners[1].reach_admin);
  EXPECT_EQ(c.listeners[2].response_timeout, std::chrono::seconds(5));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', forward: 'b:2', reach_admin: true }\n"),
              HasSubstr("listeners[0].reach_admin: only for listeners whose clients name the destination"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: socks5, response_timeout: 1s }\n"),
              HasSubstr("listeners[0].response_timeout: only for http-proxy and auto listeners"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: http-proxy, response_timeout: 0s }\n"),
              HasSubstr("listeners[0].response_timeout: must be above 0"));
}

// accept_proxy_protocol: the load balancers whose connections start with a PROXY header.
TEST(Config, AcceptProxyProtocolFromTrustedSources) {
  Config c = load(R"(
listeners:
  - { address: 'a:1', forward: 'b:2', accept_proxy_protocol: { from: [10.0.0.0/8, 127.0.0.1, "2001:db8::/32"] } }
  - { address: 'a:2', protocol: socks5, accept_proxy_protocol: { from: 192.0.2.7 } }
  - { address: 'a:3', protocol: tls-sni, forward: 'b:3' }
)");
  const auto& from = c.listeners[0].accept_proxy_protocol_from;
  ASSERT_EQ(from.size(), 3u);
  EXPECT_EQ(from[0].str(), "10.0.0.0/8");
  EXPECT_EQ(from[1].str(), "127.0.0.1/32");
  EXPECT_EQ(from[2].str(), "2001:db8::/32");
  EXPECT_EQ(c.listeners[1].accept_proxy_protocol_from.size(), 1u);
  EXPECT_TRUE(c.listeners[2].accept_proxy_protocol_from.empty()) << "off unless set";
  nlohmann::json j = to_json(c);
  EXPECT_EQ(j["listeners"][0]["accept_proxy_protocol"]["from"],
            nlohmann::json({"10.0.0.0/8", "127.0.0.1/32", "2001:db8::/32"}));
  EXPECT_FALSE(j["listeners"][2].contains("accept_proxy_protocol"));
  for (const char* protocol : {"tls-sni", "http-proxy", "auto", "mesh", "hbone-h2c"})
    EXPECT_NO_THROW(load(std::string("listeners:\n  - { address: 'a:1', protocol: ") + protocol +
                         (std::string(protocol) == "tls-sni" ? ", forward: 'b:2'" : "") +
                         ", accept_proxy_protocol: { from: [10.0.0.0/8] } }\n"))
        << protocol;

  const std::string head = "listeners:\n  - { address: 'a:1', forward: 'b:2', accept_proxy_protocol: ";
  EXPECT_THAT(error_of(head + "{ from: [10.0.0.1/8] } }\n"),
              HasSubstr("test.yaml:2: listeners[0].accept_proxy_protocol.from[0]: '10.0.0.1/8' has host bits set: "
                        "the network is 10.0.0.0/8"));
  EXPECT_THAT(error_of(head + "{ from: [10.0.0.0/8, lb.example] } }\n"),
              HasSubstr("listeners[0].accept_proxy_protocol.from[1]: expected an IP address or ADDRESS/PREFIX, "
                        "got 'lb.example'"));
  EXPECT_THAT(error_of(head + "{ from: [] } }\n"),
              HasSubstr("listeners[0].accept_proxy_protocol.from: needs at least one address or CIDR"));
  EXPECT_THAT(error_of(head + "{ } }\n"), HasSubstr("listeners[0].accept_proxy_protocol: missing 'from"));
  EXPECT_THAT(error_of(head + "{ from: [10.0.0.0/8], versions: [v2] } }\n"),
              HasSubstr("listeners[0].accept_proxy_protocol.versions: unknown key"));
  EXPECT_THAT(error_of(head + "on }\n"), HasSubstr("listeners[0].accept_proxy_protocol: expected a mapping"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: capture-in, accept_proxy_protocol: { from: [10.0.0.0/8] } }\n"),
              HasSubstr("listeners[0].accept_proxy_protocol: only for listeners that accept TCP connections from "
                        "clients (not capture-in)"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: udp, forward: 'b:2', "
                       "accept_proxy_protocol: { from: [10.0.0.0/8] } }\n"),
              HasSubstr("(not udp)"));
}

TEST(Config, SourceRateLimitOnAListenerAndByDefaultOnExposedOnes) {
  Config c = load(R"(
defaults: { source_rate_limit: { per_second: 20, burst: 50 } }
listeners:
  - { address: '0.0.0.0:1', forward: 'b:2' }
  - { address: '127.0.0.1:2', forward: 'b:2' }
  - { address: '[::1]:3', forward: 'b:2' }
  - { address: 'localhost:4', forward: 'b:2' }
  - { address: 'gw.example:5', forward: 'b:2' }
  - { address: '127.0.0.1:6', forward: 'b:2', source_rate_limit: { per_second: 5 } }
  - { address: '0.0.0.0:7', forward: 'b:2', source_rate_limit: off }
  - { address: '0.0.0.0:8', protocol: udp, forward: 'b:2' }
  - { address: 'unix:@app', protocol: socks5 }
)");
  auto limit = [&c](size_t i) { return std::pair{c.listeners[i].source_rate_limit.per_second, c.listeners[i].source_rate_limit.burst}; };
  EXPECT_EQ(limit(0), std::pair(20u, 50u)) << "the default, on an exposed listener";
  EXPECT_EQ(limit(1), std::pair(0u, 0u)) << "loopback: not exposed";
  EXPECT_EQ(limit(2), std::pair(0u, 0u));
  EXPECT_EQ(limit(3), std::pair(0u, 0u));
  EXPECT_EQ(limit(4), std::pair(20u, 50u)) << "a name other than localhost is taken as exposed";
  EXPECT_EQ(limit(5), std::pair(5u, 5u)) << "its own; burst defaults to per_second";
  EXPECT_EQ(limit(6), std::pair(0u, 0u)) << "off overrides the default";
  EXPECT_EQ(limit(7), std::pair(0u, 0u)) << "udp accepts no connections";
  EXPECT_EQ(limit(8), std::pair(0u, 0u)) << "a Unix socket's clients have no address";
  nlohmann::json j = to_json(c);
  EXPECT_EQ(j["listeners"][0]["source_rate_limit"], nlohmann::json({{"per_second", 20}, {"burst", 50}}));
  EXPECT_FALSE(j["listeners"][1].contains("source_rate_limit"));
  EXPECT_EQ(load("listeners: [ { address: '0.0.0.0:1', forward: 'b:2' } ]").listeners[0].source_rate_limit.per_second, 0u)
      << "none unless configured";

  const std::string head = "listeners:\n  - { address: 'a:1', forward: 'b:2', source_rate_limit: ";
  EXPECT_THAT(error_of(head + "{ burst: 3 } }\n"), HasSubstr("listeners[0].source_rate_limit: missing 'per_second: N'"));
  EXPECT_THAT(error_of(head + "{ per_second: 0 } }\n"), HasSubstr("listeners[0].source_rate_limit.per_second: must be above 0"));
  EXPECT_THAT(error_of(head + "{ per_second: 1, burst: 0 } }\n"), HasSubstr("source_rate_limit.burst: must be above 0"));
  EXPECT_THAT(error_of(head + "{ per_second: 1, window: 1s } }\n"), HasSubstr("source_rate_limit.window: unknown key"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: udp, forward: 'b:2', source_rate_limit: { per_second: 1 } }\n"),
              HasSubstr("listeners[0].source_rate_limit: only for listeners that accept connections from addresses (not udp)"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'unix:@x', protocol: socks5, source_rate_limit: { per_second: 1 } }\n"),
              HasSubstr("(not a Unix socket)"));
  EXPECT_THAT(error_of("defaults: { source_rate_limit: { per_second: -1 } }\nlisteners: [ { address: 'a:1', forward: 'b:2' } ]\n"),
              HasSubstr("defaults.source_rate_limit.per_second: expected a whole number"));
}

TEST(Config, AutoListenersTakeTheProxyKeysAndTlsRoutes) {
  Config c = load(R"(
listeners:
  - name: any
    address: 127.0.0.1:1080
    protocol: auto
    users: [ { name: alice, password: s3cret } ]
    allow: [ { port: 443 } ]
    udp_idle_timeout: 20s
    routes:
      - { sni: a.test, forward: 127.0.0.1:9443 }
      - { sni: web.test, forward: 127.0.0.1:8080, terminate: node }
      - { forward: 127.0.0.1:9445 }
)");
  const auto& l = c.listeners.at(0);
  EXPECT_EQ(l.users.size(), 1u);
  EXPECT_FALSE(allows(l, {"example.com", 80}));
  EXPECT_EQ(l.udp_idle_timeout, Duration(20000));
  ASSERT_NE(l.router.match("a.test", 1080), nullptr);
  EXPECT_EQ(l.router.match("a.test", 1080)->forward.str(), "127.0.0.1:9443");
  EXPECT_TRUE(l.router.match("web.test", 1080)->terminate);
  EXPECT_EQ(l.router.match("other.test", 1080)->forward.str(), "127.0.0.1:9445");
  auto j = to_json(c)["listeners"][0];
  EXPECT_EQ(j["routes"].size(), 3u);
  EXPECT_EQ(j["users"], nlohmann::json::array({"alice"}));
  EXPECT_TRUE(load("listeners: [ { address: 'a:1', protocol: auto } ]").listeners[0].router.routes().empty())
      << "without routes: proxy clients only, TLS refused";
}

TEST(Config, AutoListenerErrors) {
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: auto, forward: 'b:2' }\n"),
              HasSubstr("test.yaml:2: listeners[0].forward: an auto listener's proxy clients name their destination; "
                        "TLS clients are routed by SNI through 'routes'"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: auto, proxy_protocol: v2 }\n"),
              HasSubstr("listeners[0].proxy_protocol: only for listeners that forward whole streams (not auto)"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: auto, tproxy: true }\n"),
              HasSubstr("listeners[0].tproxy: only capture listeners"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: auto, routes: [ { sni: 'a b', forward: 'b:2' } ] }\n"),
              HasSubstr("listeners[0].routes[0].sni: invalid character ' '"));
}

TEST(Config, MeshSettingsHaveZtunnelDefaultsAndTakeSizes) {
  Config d = load("listeners: []");
  EXPECT_EQ(d.mesh.h2.stream_window, 4u << 20);
  EXPECT_EQ(d.mesh.h2.connection_window, 16u << 20);
  EXPECT_EQ(d.mesh.h2.max_frame, 1u << 20);
  EXPECT_EQ(d.mesh.streams_per_connection, 100u);
  EXPECT_EQ(d.mesh.timing.idle_timeout, 300u);  // seconds
  Config c = load(R"(
mesh:
  stream_window: 1MiB
  connection_window: 8M
  max_frame: 16384
  streams_per_connection: 10
  pool_idle_timeout: 30s
  keepalive_interval: 5s
  keepalive_timeout: 2s
listeners:
  - { address: 127.0.0.1:0, protocol: hbone-h2c }
)");
  EXPECT_EQ(c.mesh.h2.stream_window, 1u << 20);
  EXPECT_EQ(c.mesh.h2.connection_window, 8u << 20);
  EXPECT_EQ(c.mesh.h2.max_frame, 16384u);
  EXPECT_EQ(c.mesh.streams_per_connection, 10u);
  EXPECT_EQ(c.mesh.timing.keepalive_timeout, 2u);  // seconds
  EXPECT_TRUE(c.listeners[0].router.routes().empty());
  EXPECT_EQ(to_json(c)["mesh"]["stream_window"], 1u << 20);
}

TEST(Config, MeshAndHboneErrorsNameTheKey) {
  EXPECT_THAT(error_of("mesh: { stream_window: 3GiB }"), HasSubstr("test.yaml:1: mesh.stream_window: expected a size"));
  EXPECT_THAT(error_of("mesh: { max_frame: 100 }"), HasSubstr("mesh.max_frame: expected a size from 16384"));
  EXPECT_THAT(error_of("mesh: { keepalive_interval: 10ms }"), HasSubstr("mesh.keepalive_interval: must be at least 1s"));
  EXPECT_THAT(error_of("mesh: { streams_per_connection: 0 }"), HasSubstr("must be above 0"));
  EXPECT_THAT(error_of("mesh: { windows: 1 }"), HasSubstr("mesh.windows: unknown key"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 127.0.0.1:0, protocol: hbone-h2c, forward: a:1 }"),
              HasSubstr("takes each stream's destination from its request"));
}

TEST(Config, TheIssueExampleParses) {
  Config c = load(R"(
listeners:
  - name: web
    address: 127.0.0.1:9000
    protocol: tcp
    forward: example.internal:8080   # host names resolved asynchronously
)");
  ASSERT_EQ(c.listeners.size(), 1u);
  const auto& l = c.listeners[0];
  EXPECT_EQ(l.name, "web");
  EXPECT_EQ(l.address.str(), "127.0.0.1:9000");
  ASSERT_EQ(l.router.routes().size(), 1u);
  EXPECT_EQ(l.router.match("", 9000)->forward.str(), "example.internal:8080");
  EXPECT_TRUE(l.splice);
  EXPECT_EQ(l.connect_timeout, Duration(5000));
  EXPECT_EQ(l.idle_timeout, Duration(3600000));
}

TEST(Config, EveryKeyAndOverrides) {
  Config c = load(R"(
base_port: 21000
workers: 3
drain_timeout: 2s
log_level: debug
state_dir: /tmp/ugate-state
access_log: { path: "off", format: json }
admin: { address: "[::1]:+0" }
defaults: { connect_timeout: 1s, idle_timeout: 30s, splice: false, max_streams: 100 }
listeners:
  - address: 127.0.0.1:+7
    forward: "[::1]:80"
    idle_timeout: 5m
  - name: sni
    address: 0.0.0.0:0
    routes:
      - { sni: "*.B.test", forward: 10.0.0.1:443 }
      - { host: a.test, port: 443, forward: 10.0.0.2:443 }
)",
                  {.workers = 4u, .log_level = std::string("warn")});
  EXPECT_EQ(c.base_port, 21000);
  EXPECT_EQ(c.workers, 4u) << "the command line wins";
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_EQ(c.drain_timeout, Duration(2000));
  EXPECT_EQ(c.state_dir, "/tmp/ugate-state");
  EXPECT_EQ(c.access_log.path, "off");
  EXPECT_EQ(c.access_log.format, AccessLogConfig::Format::kJson);
  EXPECT_EQ(c.admin->str(), "[::1]:21000");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].name, "127.0.0.1:21007") << "unnamed listeners are named by address";
  EXPECT_EQ(c.listeners[0].connect_timeout, Duration(1000));
  EXPECT_EQ(c.listeners[0].idle_timeout, Duration(300000));
  EXPECT_FALSE(c.listeners[0].splice);
  EXPECT_EQ(c.listeners[0].max_streams, 100u);
  EXPECT_EQ(c.listeners[1].address.port, 0) << "port 0: the kernel picks";
  EXPECT_EQ(c.listeners[1].router.match("x.b.test", 443)->forward.str(), "10.0.0.1:443");
  EXPECT_EQ(c.listeners[1].router.match("a.test", 443)->forward.str(), "10.0.0.2:443");

  auto j = to_json(c);
  EXPECT_EQ(j["listeners"][0]["idle_timeout"], "5m");
  EXPECT_EQ(j["listeners"][1]["routes"][0]["host"], "*.b.test");
  EXPECT_EQ(j["admin"]["address"], "[::1]:21000");
}

TEST(Config, TheTlsSniExampleParses) {
  Config c = load(R"(
listeners:
  - address: 127.0.0.1:8443
    protocol: tls-sni
    sniff_timeout: 2s
    routes:
      - sni: a.test
        forward: 127.0.0.1:9443
      - sni: "*.b.test"
        forward: 127.0.0.1:9444
)");
  const auto& l = c.listeners.at(0);
  EXPECT_EQ(to_string(l.protocol), "tls-sni");
  EXPECT_EQ(l.sniff_timeout, Duration(2000));
  EXPECT_EQ(l.router.match("a.test", 8443)->forward.port, 9443);
  EXPECT_EQ(l.router.match("c.b.test", 8443)->forward.port, 9444);
  EXPECT_EQ(l.router.match("other.test", 8443), nullptr);
  EXPECT_EQ(to_json(c)["listeners"][0]["sniff_timeout"], "2s");
}

TEST(Config, CaptureListenersNeedNoForwardAndMayUseTproxy) {
  Config c = load(R"(
listeners:
  - { name: out, address: "0.0.0.0:+1", protocol: capture-out }
  - name: in
    address: "[::]:+6"
    protocol: capture-in
    tproxy: true
    routes: [ { port: 80, forward: 127.0.0.1:8080 } ]
)");
  EXPECT_TRUE(c.listeners.at(0).router.routes().empty());
  EXPECT_FALSE(c.listeners[0].tproxy);
  EXPECT_TRUE(c.listeners.at(1).tproxy);
  EXPECT_EQ(c.listeners[1].router.match("10.0.0.1", 80)->forward.port, 8080);
  EXPECT_EQ(c.listeners[1].router.match("10.0.0.1", 81), nullptr);
  EXPECT_EQ(to_json(c)["listeners"][1]["tproxy"], true);
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', forward: 'b:2', tproxy: true }\n"),
              HasSubstr("test.yaml:2: listeners[0].tproxy: only capture listeners"));
}

TEST(Config, UdpListenersHaveTheirOwnDefaults) {
  Config c = load(R"(
defaults: { idle_timeout: 5m, max_streams: 10 }
listeners:
  - { name: dns, address: 127.0.0.1:5353, protocol: udp, forward: "[::1]:53" }
  - { name: short, address: 127.0.0.1:5354, protocol: udp, forward: 10.0.0.1:53, idle_timeout: 2s, max_streams: 7 }
  - { name: capture, address: 0.0.0.0:5355, protocol: udp, tproxy: true }
)");
  EXPECT_EQ(c.listeners.at(0).idle_timeout, kUdpIdleTimeout) << "defaults: is for streams";
  EXPECT_EQ(c.listeners[0].max_streams, kUdpMaxFlows);
  EXPECT_EQ(c.listeners.at(1).idle_timeout, Duration(2000));
  EXPECT_EQ(c.listeners[1].max_streams, 7u);
  EXPECT_TRUE(c.listeners.at(2).tproxy);
  EXPECT_EQ(load("listeners:\n  - { name: u, address: '[::]:53', protocol: udp, forward: 'a:53' }\n"
                 "  - { name: t, address: '[::]:53', forward: 'a:53' }\n")
                .listeners.size(),
            2u)
      << "UDP and TCP ports are apart";
  EXPECT_TRUE(c.listeners[2].router.routes().empty());
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: udp }\n"),
              HasSubstr("a udp listener needs 'forward: HOST:PORT' (or 'routes'), or tproxy: true"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: udp, forward: 'b:2', idle_timeout: 0s }\n"),
              HasSubstr("listeners[0].idle_timeout: must be above 0"));
}

TEST(Config, StunListenersTakeUsersAndAnOtherAddress) {
  Config c = load(R"(
listeners:
  - name: stun
    address: 127.0.0.1:+3
    protocol: stun
    other_address: 127.0.0.2:3479
    users: [ { name: alice, password: s3cret } ]
  - { name: plain, address: "[::]:3478", protocol: stun }
)");
  const ListenerConfig& l = c.listeners.at(0);
  EXPECT_EQ(l.protocol, Protocol::kStun);
  EXPECT_EQ(l.address.port, c.base_port + 3);
  EXPECT_EQ(l.other_address, (HostPort{"127.0.0.2", 3479}));
  ASSERT_EQ(l.users.size(), 1u);
  EXPECT_TRUE(c.listeners.at(1).other_address.host.empty());
  // UDP and TCP of one port: neither a udp nor a tcp listener may share it.
  EXPECT_THAT(error_of("listeners:\n  - { name: s, address: 'a:1', protocol: stun }\n"
                       "  - { name: u, address: 'a:1', protocol: udp, forward: 'b:2' }\n"),
              HasSubstr("a:1 is already used by listener 's'"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: stun, forward: 'b:2' }\n"),
              HasSubstr("listeners[0].forward: a stun listener answers itself"));
  EXPECT_THAT(error_of("listeners:\n  - { address: '0.0.0.0:1', protocol: stun, other_address: '127.0.0.2:2' }\n"),
              HasSubstr("listeners[0].address: with other_address the listener needs one IP address"));
  EXPECT_THAT(error_of("listeners:\n  - { address: '127.0.0.1:1', protocol: stun, other_address: '[::2]:2' }\n"),
              HasSubstr("listeners[0].other_address: expected another IP address of the same family"));
  EXPECT_THAT(error_of("listeners:\n  - { address: '127.0.0.1:1', protocol: stun, other_address: '127.0.0.2:1' }\n"),
              HasSubstr("expected another port than the listener's"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', forward: 'b:2', other_address: '127.0.0.2:1' }\n"),
              HasSubstr("listeners[0].other_address: only for stun listeners"));
}

TEST(Config, AdminCanBeTurnedOff) { EXPECT_FALSE(load("admin: off").admin); }

TEST(Config, ErrorsNameFileLineKeyAndProblem) {
  EXPECT_EQ(error_of("listeners:\n  - address: 127.0.0.1:9000\n    forward: nope\n"),
            "test.yaml:3: listeners[0].forward: expected HOST:PORT in 'nope'");
  EXPECT_THAT(error_of("listeners:\n  - address: 127.0.0.1:9000\n    forwrad: a:1\n"),
              HasSubstr("test.yaml:3: listeners[0].forwrad: unknown key (expected one of: name, address"));
  EXPECT_THAT(error_of("listeners:\n  - address: 127.0.0.1:9000\n"),
              HasSubstr("test.yaml:2: listeners[0]: a tcp listener needs 'forward: HOST:PORT'"));
  EXPECT_THAT(error_of("listeners:\n  - address: 127.0.0.1:9000\n    forward: a:1\n    protocol: sctp\n"),
              HasSubstr("test.yaml:4: listeners[0].protocol: unknown protocol 'sctp' (supported: tcp, tls-sni, socks5, "
                        "http-proxy, auto, capture-out, capture-in, webpush, hbone-h2c, mesh, udp, stun, dns, quic)"));
  EXPECT_THAT(error_of("drain_timeout: soon\n"), HasSubstr("test.yaml:1: drain_timeout: invalid duration 'soon'"));
  EXPECT_THAT(error_of("workers: many\n"), HasSubstr("workers: expected a whole number"));
  EXPECT_THAT(error_of("listeners: [ { address: 'a:1', forward: 'b:2', splice: maybe } ]"),
              HasSubstr("listeners[0].splice: expected true or false"));
  EXPECT_THAT(error_of("log_level: loud\n"), HasSubstr("log_level: unknown level 'loud'"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:70000', forward: 'b:1' }\n"),
              HasSubstr("listeners[0].address: invalid port '70000'"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:+70000', forward: 'b:1' }\n"),
              HasSubstr("BASE+N must stay below 65536"));
  EXPECT_THAT(error_of("listeners: {}\n"), HasSubstr("listeners: expected a list"));
  EXPECT_THAT(error_of("listeners: [ { address: 'a:1', forward: 'b:2', routes: [] } ]"),
              HasSubstr("either 'forward' or 'routes'"));
  EXPECT_THAT(error_of("listeners: [ { address: 'a:1', routes: [ { sni: 'a.*', forward: 'b:2' } ] } ]"),
              HasSubstr("listeners[0].routes[0].sni: invalid character '*'"));
  EXPECT_THAT(error_of("a: [\n"), HasSubstr("test.yaml:2: invalid YAML"));
  EXPECT_THAT(error_of("bogus: 1\n"), HasSubstr("test.yaml:1: bogus: unknown key"));
}

TEST(Config, DuplicateNamesAndAddressesAreRejected) {
  EXPECT_THAT(error_of("listeners:\n  - { name: x, address: 'a:1', forward: 'b:2' }\n"
                       "  - { name: x, address: 'a:2', forward: 'b:2' }\n"),
              HasSubstr("test.yaml:3: listeners[1].name: duplicate listener name 'x'"));
  EXPECT_THAT(error_of("listeners:\n  - { name: x, address: 'a:1', forward: 'b:2' }\n"
                       "  - { name: y, address: 'a:1', forward: 'b:2' }\n"),
              HasSubstr("a:1 is already used by listener 'x'"));
}

TEST(Config, MissingFileIsAClearError) {
  try {
    load_config_file("/nonexistent/ugate.yaml", {});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/ugate.yaml: cannot read config file"));
  }
}

}  // namespace
}  // namespace ugate

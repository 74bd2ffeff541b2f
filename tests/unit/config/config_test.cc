#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>

namespace ugate {
namespace {

using ::testing::HasSubstr;

Config load(const std::string& yaml, ConfigOverrides o = {}) { return load_config_text(yaml, "test.yaml", o); }

std::string error_of(const std::string& yaml) {
  try {
    load(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Config, EmbeddedDefaultHasAdminOnBasePortTheCaptureDoorsAndLoopbackProxies) {
  Config c = load_config_text(kEmbeddedDefaultConfig, "<embedded default>", {});
  ASSERT_TRUE(c.admin);
  EXPECT_EQ(c.admin->str(), "127.0.0.1:15000");
  std::map<std::string, const ListenerConfig*> doors;  // by protocol
  for (const auto& l : c.listeners) doors[std::string(to_string(l.protocol))] = &l;
  ASSERT_EQ(doors.size(), 5u);
  EXPECT_EQ(doors["capture-out"]->address.str(), "0.0.0.0:15001");
  EXPECT_EQ(doors["capture-in"]->address.str(), "0.0.0.0:15006");
  EXPECT_FALSE(doors["capture-out"]->tproxy);
  EXPECT_EQ(doors["socks5"]->address.str(), "127.0.0.1:15005");
  EXPECT_EQ(doors["http-proxy"]->address.str(), "127.0.0.1:15002");
  EXPECT_EQ(doors["hbone-h2c"]->address.str(), "127.0.0.1:15009");
  EXPECT_EQ(doors.count("tls-sni"), 0u) << "BASE+4 needs routes: none by default";
  for (const auto& l : c.listeners) {
    if (l.is(kProxy)) {
      EXPECT_EQ(l.address.host, "127.0.0.1") << l.name << ": never an open proxy";
    }
  }
  EXPECT_GE(c.workers, 1u);
  Config moved = load_config_text(kEmbeddedDefaultConfig, "<embedded default>", {.base_port = 20000});
  EXPECT_EQ(moved.admin->str(), "127.0.0.1:20000");
  EXPECT_EQ(moved.listeners.back().address.str(), "127.0.0.1:20005");
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

TEST(Config, AdminCanBeTurnedOff) { EXPECT_FALSE(load("admin: off").admin); }

TEST(Config, ErrorsNameFileLineKeyAndProblem) {
  EXPECT_EQ(error_of("listeners:\n  - address: 127.0.0.1:9000\n    forward: nope\n"),
            "test.yaml:3: listeners[0].forward: expected HOST:PORT in 'nope'");
  EXPECT_THAT(error_of("listeners:\n  - address: 127.0.0.1:9000\n    forwrad: a:1\n"),
              HasSubstr("test.yaml:3: listeners[0].forwrad: unknown key (expected one of: name, address"));
  EXPECT_THAT(error_of("listeners:\n  - address: 127.0.0.1:9000\n"),
              HasSubstr("test.yaml:2: listeners[0]: a tcp listener needs 'forward: HOST:PORT'"));
  EXPECT_THAT(error_of("listeners:\n  - address: 127.0.0.1:9000\n    forward: a:1\n    protocol: quic\n"),
              HasSubstr("test.yaml:4: listeners[0].protocol: unknown protocol 'quic' (supported: tcp, tls-sni, socks5, "
                        "http-proxy, auto, capture-out, capture-in, webpush, hbone-h2c, mesh, udp)"));
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
  EXPECT_THAT(error_of("nodes: [ a ]"), HasSubstr("test.yaml:1: nodes: expected a mapping of NAME: { address, id, via }"));
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

}  // namespace
}  // namespace ugate

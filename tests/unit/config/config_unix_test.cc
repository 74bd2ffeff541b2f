// Unix socket listeners and forward targets in the config: which protocols
// take them, the socket file's mode and owner, and what is refused where.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "config/config_test_util.h"

namespace ugate {
namespace {
using ::testing::HasSubstr;
using config_test::error_of;
using config_test::load;

TEST(ConfigUnix, ListenersAndForwardTargets) {
  Config c = load(R"(
listeners:
  - { name: app, address: unix:/run/ugate/app.sock, protocol: http-proxy, mode: "0600", owner: root, group: 0 }
  - { name: abstract, address: "unix:@ugate-test", forward: unix:/run/app/backend.sock }
  - { name: tcp-in, address: "127.0.0.1:1", routes: [ { sni: a.test, forward: "unix:@backend" } ], protocol: tls-sni }
  - { address: unix:/run/ugate/auto.sock, protocol: auto }
)");
  const ListenerConfig& app = c.listeners[0];
  EXPECT_TRUE(app.address.unix_socket);
  EXPECT_EQ(app.address.host, "/run/ugate/app.sock");
  EXPECT_EQ(app.socket_file.mode, 0600u);
  EXPECT_EQ(app.socket_file.owner, 0u);
  EXPECT_EQ(app.socket_file.group, 0u);
  EXPECT_EQ(c.listeners[1].socket_file.mode, 0660u) << "owner and group only, by default";
  EXPECT_FALSE(c.listeners[1].socket_file.owner);
  EXPECT_EQ(c.listeners[1].router.routes()[0].forward.str(), "unix:/run/app/backend.sock");
  EXPECT_TRUE(c.listeners[2].router.routes()[0].forward.unix_socket);
  EXPECT_EQ(c.listeners[3].name, "unix:/run/ugate/auto.sock");
  nlohmann::json j = to_json(c);
  EXPECT_EQ(j["listeners"][0]["address"], "unix:/run/ugate/app.sock");
  EXPECT_EQ(j["listeners"][0]["mode"], "0600");
  EXPECT_EQ(j["listeners"][0]["owner"], 0);
  EXPECT_FALSE(j["listeners"][1].contains("mode")) << "an abstract socket has no file";
  EXPECT_EQ(j["listeners"][1]["routes"][0]["forward"], "unix:/run/app/backend.sock");
  EXPECT_EQ(j["listeners"][3]["mode"], "0660");
  for (const char* protocol : {"tcp", "tls-sni", "socks5", "http-proxy", "auto"})
    EXPECT_NO_THROW(load(std::string("listeners:\n  - { address: unix:/x.sock, protocol: ") + protocol +
                         (std::string(protocol) == "tcp" || std::string(protocol) == "tls-sni" ? ", forward: 'b:2'" : "") +
                         " }\n"))
        << protocol;
}

TEST(ConfigUnix, ErrorsNameTheKey) {
  EXPECT_THAT(error_of("listeners:\n  - { address: unix:/x.sock, protocol: capture-out }\n"),
              HasSubstr("test.yaml:2: listeners[0].address: a capture-out listener cannot listen on a Unix socket (only "
                        "tcp, tls-sni, socks5, http-proxy and auto)"));
  EXPECT_THAT(error_of("listeners:\n  - { address: unix:/x.sock, protocol: udp, forward: 'b:2' }\n"),
              HasSubstr("a udp listener cannot listen on a Unix socket"));
  EXPECT_THAT(error_of("listeners:\n  - { address: unix:/x.sock, protocol: mesh }\n"),
              HasSubstr("a mesh listener cannot listen on a Unix socket"));
  EXPECT_THAT(error_of("listeners:\n  - { address: unix:x.sock, forward: 'b:2' }\n"),
              HasSubstr("listeners[0].address: a Unix socket path must be absolute"));
  EXPECT_THAT(error_of("listeners:\n  - { address: unix:/x.sock, forward: 'b:2', mode: 0999 }\n"),
              HasSubstr("listeners[0].mode: expected octal permission bits like 0660"));
  EXPECT_THAT(error_of("listeners:\n  - { address: unix:/x.sock, forward: 'b:2', mode: 01777 }\n"),
              HasSubstr("(at most 0777)"));
  EXPECT_THAT(error_of("listeners:\n  - { address: unix:/x.sock, forward: 'b:2', owner: no-such-user-here }\n"),
              HasSubstr("listeners[0].owner: no such user 'no-such-user-here'"));
  EXPECT_THAT(error_of("listeners:\n  - { address: unix:@x, forward: 'b:2', mode: '0600' }\n"),
              HasSubstr("listeners[0].mode: an abstract socket (unix:@NAME) has no file"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', forward: 'b:2', group: 0 }\n"),
              HasSubstr("listeners[0].group: only for address: unix:/PATH"));
  EXPECT_THAT(error_of("listeners:\n  - { address: unix:/x.sock, forward: 'b:2', proxy_protocol: v2 }\n"),
              HasSubstr("listeners[0].proxy_protocol: not on a Unix socket listener"));
  EXPECT_THAT(error_of("listeners:\n  - { address: unix:/x.sock, protocol: socks5, "
                       "accept_proxy_protocol: { from: [10.0.0.0/8] } }\n"),
              HasSubstr("listeners[0].accept_proxy_protocol: not on a Unix socket listener"));
  EXPECT_THAT(error_of("listeners:\n  - { address: 'a:1', protocol: udp, forward: unix:/x.sock }\n"),
              HasSubstr("listeners[0].forward: a udp listener forwards datagrams to HOST:PORT"));
  EXPECT_THAT(error_of("nodes: { gw: { address: 'gw:1', id: 'spiffe://td/ns/default/sa/gw' } }\n"
                       "listeners:\n  - { address: 'a:1', forward: unix:/x.sock, via: gw }\n"),
              HasSubstr("a Unix socket is on this host: not through 'via'"));
  EXPECT_THAT(error_of("listeners:\n  - { name: a, address: unix:/x.sock, forward: 'b:2' }\n"
                       "  - { name: b, address: unix:/x.sock, forward: 'b:2' }\n"),
              HasSubstr("unix:/x.sock is already used by listener 'a'"));
}

}  // namespace
}  // namespace ugate

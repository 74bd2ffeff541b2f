#include "listener/protocol.h"

#include <gtest/gtest.h>

namespace ugate {
namespace {

TEST(Protocol, NamesRoundTripAndUnknownNamesAreRefused) {
  for (size_t i = 0; i < static_cast<size_t>(Protocol::kCount); ++i) {
    auto p = static_cast<Protocol>(i);
    ASSERT_EQ(protocol_from_name(to_string(p)), p) << to_string(p);
  }
  EXPECT_EQ(protocol_from_name("TCP"), std::nullopt);
  EXPECT_EQ(protocol_from_name(""), std::nullopt);
  EXPECT_EQ(protocol_names(),
            "tcp, tls-sni, socks5, http-proxy, auto, capture-out, capture-in, webpush, hbone-h2c, mesh, udp, stun, dns, quic");
}

TEST(Protocol, TraitsSayWhatEachProtocolTakes) {
  EXPECT_EQ(protocols_with(kProxy), "socks5, http-proxy and auto");
  EXPECT_EQ(protocols_with(kUdpAssociate), "socks5 and auto");
  EXPECT_EQ(protocols_with(kHttpRequests), "http-proxy and auto");
  EXPECT_EQ(protocols_with(kTerminatesPerRoute), "tls-sni and auto");
  EXPECT_EQ(protocols_with(kClientNamesDestination), "socks5, http-proxy, auto, hbone-h2c, mesh and quic");
  EXPECT_EQ(protocols_with(kStreamNamesDestination), "hbone-h2c and quic");
  EXPECT_EQ(protocols_with(kMeshIdentity), "mesh and quic");
  EXPECT_TRUE(has(Protocol::kCaptureIn, kCapture));
  EXPECT_FALSE(has(Protocol::kTcp, kCapture));
  EXPECT_TRUE(has(Protocol::kUdp, kDatagram));
  EXPECT_TRUE(has(Protocol::kWebPush, kControlThread));
  EXPECT_TRUE(has(Protocol::kMesh, kMeshIdentity));
  EXPECT_EQ(protocols_with(kOwnAnswers), "stun and dns");
  EXPECT_EQ(protocols_with(kStunServer), "stun");
  EXPECT_TRUE(has(Protocol::kQuic, kQuicTransport));
  EXPECT_FALSE(has(Protocol::kQuic, kDatagram)) << "no udp flows: QUIC connections";
}

}  // namespace
}  // namespace ugate

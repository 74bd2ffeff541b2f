#include "codec/proxy_protocol.h"

#include "base/endpoint.h"
#include "codec/forwarded.h"

namespace ugate {
namespace {

constexpr char kSignature[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

void put16(std::string& out, size_t v) {
  out += static_cast<char>((v >> 8) & 0xff);
  out += static_cast<char>(v & 0xff);
}

}  // namespace

std::string proxy_v2_header(const TcpEndpoint& source, const TcpEndpoint& destination, std::string_view peer_identity) {
  namespace ip = boost::asio::ip;
  const bool v4 = source.address().is_v4() && destination.address().is_v4();
  std::string addresses;
  auto put_address = [&](const ip::address& a) {
    if (v4) {
      auto b = a.to_v4().to_bytes();
      addresses.append(reinterpret_cast<const char*>(b.data()), b.size());
    } else {
      auto b = (a.is_v4() ? ip::make_address_v6(ip::v4_mapped, a.to_v4()) : a.to_v6()).to_bytes();
      addresses.append(reinterpret_cast<const char*>(b.data()), b.size());
    }
  };
  put_address(source.address());
  put_address(destination.address());
  put16(addresses, source.port());
  put16(addresses, destination.port());
  // TLVs: type, 16-bit length, value. A SPIFFE ID is far below 64 KiB; cut to be sure.
  if (!peer_identity.empty()) {
    peer_identity = peer_identity.substr(0, 4096);
    addresses += static_cast<char>(kProxyTlvPeerIdentity);
    put16(addresses, peer_identity.size());
    addresses.append(peer_identity);
  }
  std::string out(kSignature, sizeof kSignature);
  out += static_cast<char>(0x21);             // version 2, PROXY
  out += static_cast<char>(v4 ? 0x11 : 0x21);  // TCP over IPv4 / IPv6
  put16(out, addresses.size());
  return out + addresses;
}

TcpEndpoint original_source(const StreamMeta& m) {
  auto forwarded = m.headers.find("forwarded");
  if (!forwarded) return m.source;
  return forwarded_client(*forwarded).value_or(m.source);
}

}  // namespace ugate

#include "codec/socks5_codec.h"

#include <cstring>

namespace ugate::socks5 {
namespace {

namespace ip = boost::asio::ip;

enum AddressType : uint8_t { kIpv4 = 1, kDomain = 3, kIpv6 = 4 };

// A domain name as getaddrinfo will see it: printable ASCII without spaces.
bool plausible_name(std::span<const uint8_t> name) {
  if (name.empty()) return false;
  for (uint8_t c : name)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

// ATYP ADDR PORT at the start of `in`: the target and the bytes it took.
struct Address {
  HostPort target;
  size_t size = 0;
};

Result<Address, Error> parse_address(std::span<const uint8_t> in) {
  if (in.empty()) return Error::kNeedMore;
  size_t addr_len = 0, skip = 1;
  switch (in[0]) {
    case kIpv4: addr_len = 4; break;
    case kIpv6: addr_len = 16; break;
    case kDomain:
      if (in.size() < 2) return Error::kNeedMore;
      addr_len = in[1];
      skip = 2;
      break;
    default: return Error::kUnknownAddressType;
  }
  if (in.size() < skip + addr_len + 2) return Error::kNeedMore;
  std::span<const uint8_t> addr = in.subspan(skip, addr_len);
  Address out{{}, skip + addr_len + 2};
  if (in[0] == kIpv4) {
    ip::address_v4::bytes_type b;
    std::memcpy(b.data(), addr.data(), 4);
    out.target.host = ip::address_v4(b).to_string();
  } else if (in[0] == kIpv6) {
    ip::address_v6::bytes_type b;
    std::memcpy(b.data(), addr.data(), 16);
    out.target.host = ip::address_v6(b).to_string();
  } else {
    if (!plausible_name(addr)) return Error::kBadDomainName;
    out.target.host.assign(addr.begin(), addr.end());
  }
  out.target.port = static_cast<uint16_t>(in[skip + addr_len] << 8 | in[skip + addr_len + 1]);
  return out;
}

// ATYP ADDR PORT for an IP endpoint.
void append_address(std::string& out, const ip::address& a, uint16_t port) {
  if (a.is_v6() && !a.to_v6().is_v4_mapped()) {
    out += static_cast<char>(kIpv6);
    auto b = a.to_v6().to_bytes();
    out.append(reinterpret_cast<const char*>(b.data()), b.size());
  } else {
    out += static_cast<char>(kIpv4);
    auto b = a.is_v6() ? ip::make_address_v4(ip::v4_mapped, a.to_v6()).to_bytes() : a.to_v4().to_bytes();
    out.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  out += static_cast<char>(port >> 8);
  out += static_cast<char>(port & 0xff);
}

std::string reply_for(Reply rep, const ip::address& a, uint16_t port) {
  std::string out{static_cast<char>(kVersion), static_cast<char>(rep), 0};
  append_address(out, a, port);
  return out;
}

}  // namespace

std::string_view to_string(Error e) {
  switch (e) {
    case Error::kNeedMore: return "incomplete message";
    case Error::kNotVersion5: return "not SOCKS version 5";
    case Error::kNoMethods: return "no authentication methods offered";
    case Error::kNotAuthVersion1: return "not username/password version 1";
    case Error::kEmptyUser: return "empty username";
    case Error::kRequestNotVersion5: return "request is not SOCKS version 5";
    case Error::kBindNotSupported: return "BIND is not supported";
    case Error::kUnknownCommand: return "unknown command";
    case Error::kUnknownAddressType: return "unknown address type";
    case Error::kBadDomainName: return "invalid domain name";
    case Error::kShortDatagram: return "datagram shorter than its header";
    case Error::kReservedNotZero: return "reserved bytes are not zero";
    case Error::kFragmented: return "fragments are not supported";
  }
  return "invalid SOCKS5 message";
}

std::optional<Reply> error_reply(Error e) {
  switch (e) {
    case Error::kBindNotSupported:
    case Error::kUnknownCommand: return Reply::kCommandNotSupported;
    case Error::kUnknownAddressType: return Reply::kAddressTypeNotSupported;
    case Error::kBadDomainName: return Reply::kHostUnreachable;
    default: return std::nullopt;
  }
}

Result<Greeting, Error> parse_greeting(std::span<const uint8_t> in) {
  if (in.empty()) return Error::kNeedMore;
  if (in[0] != kVersion) return Error::kNotVersion5;
  if (in.size() < 2) return Error::kNeedMore;
  size_t n = in[1];
  if (n == 0) return Error::kNoMethods;
  if (in.size() < 2 + n) return Error::kNeedMore;
  Greeting g;
  for (uint8_t m : in.subspan(2, n)) {
    if (m == static_cast<uint8_t>(Method::kNoAuth)) g.no_auth = true;
    if (m == static_cast<uint8_t>(Method::kUserPass)) g.user_pass = true;
  }
  g.size = 2 + n;
  return g;
}

Result<Credentials, Error> parse_credentials(std::span<const uint8_t> in) {
  if (in.empty()) return Error::kNeedMore;
  if (in[0] != kAuthVersion) return Error::kNotAuthVersion1;
  if (in.size() < 2) return Error::kNeedMore;
  size_t ulen = in[1];
  if (in.size() < 2 + ulen + 1) return Error::kNeedMore;
  size_t plen = in[2 + ulen];
  if (in.size() < 3 + ulen + plen) return Error::kNeedMore;
  if (ulen == 0) return Error::kEmptyUser;
  auto user = in.subspan(2, ulen), password = in.subspan(3 + ulen, plen);
  return Credentials{{user.begin(), user.end()}, {password.begin(), password.end()}, 3 + ulen + plen};
}

Result<Request, Error> parse_request(std::span<const uint8_t> in) {
  if (in.empty()) return Error::kNeedMore;
  if (in[0] != kVersion) return Error::kRequestNotVersion5;
  if (in.size() < 4) return Error::kNeedMore;
  uint8_t cmd = in[1];
  if (cmd == static_cast<uint8_t>(Command::kBind)) return Error::kBindNotSupported;
  if (cmd != static_cast<uint8_t>(Command::kConnect) && cmd != static_cast<uint8_t>(Command::kUdpAssociate))
    return Error::kUnknownCommand;
  auto a = parse_address(in.subspan(3));
  if (!a) return a.error();
  return Request{static_cast<Command>(cmd), std::move(a->target), 3 + a->size};
}

Result<Datagram, Error> parse_udp_header(std::span<const uint8_t> in) {
  if (in.size() < 4) return Error::kShortDatagram;
  if (in[0] != 0 || in[1] != 0) return Error::kReservedNotZero;
  if (in[2] != 0) return Error::kFragmented;
  auto a = parse_address(in.subspan(3));
  if (a.need_more()) return Error::kShortDatagram;
  if (!a) return a.error();
  return Datagram{std::move(a->target), 3 + a->size};
}

std::string method_reply(Method m) { return {static_cast<char>(kVersion), static_cast<char>(m)}; }

std::string auth_reply(bool ok) { return {static_cast<char>(kAuthVersion), static_cast<char>(ok ? 0 : 1)}; }

std::string reply(Reply rep, const ip::tcp::endpoint& bound) {
  return reply_for(rep, bound.port() ? bound.address() : ip::address(ip::address_v4::any()), bound.port());
}

std::string reply(Reply rep, const ip::udp::endpoint& bound) {
  return reply_for(rep, bound.port() ? bound.address() : ip::address(ip::address_v4::any()), bound.port());
}

size_t write_udp_header(const ip::udp::endpoint& from, uint8_t* payload) {
  std::string header{0, 0, 0};
  append_address(header, from.address(), from.port());
  std::memcpy(payload - header.size(), header.data(), header.size());
  return header.size();
}

}  // namespace ugate::socks5

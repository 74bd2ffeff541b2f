#include "codec/socks5_codec.h"

#include <cstring>

namespace ugate::socks5 {
namespace {

namespace ip = boost::asio::ip;

enum AddressType : uint8_t { kIpv4 = 1, kDomain = 3, kIpv6 = 4 };

template <typename T>
Parsed<T> error(std::string_view why, std::optional<Reply> reply = std::nullopt) {
  Parsed<T> p;
  p.status = Status::kError;
  p.error = why;
  p.reply = reply;
  return p;
}

template <typename T>
Parsed<T> done(size_t used, T value) {
  Parsed<T> p;
  p.status = Status::kDone;
  p.used = used;
  p.value = std::move(value);
  return p;
}

// A domain name as getaddrinfo will see it: printable ASCII without spaces.
bool plausible_name(std::span<const uint8_t> name) {
  if (name.empty()) return false;
  for (uint8_t c : name)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

// ATYP ADDR PORT at the start of `in`: the target and the bytes it took, or
// 0 bytes for "need more", or an error.
struct Address {
  Status status;
  size_t used = 0;
  HostPort target;
  std::string_view error;
  std::optional<Reply> reply;
};

Address parse_address(std::span<const uint8_t> in) {
  if (in.empty()) return {Status::kNeedMore};
  size_t addr_len = 0, skip = 1;
  switch (in[0]) {
    case kIpv4: addr_len = 4; break;
    case kIpv6: addr_len = 16; break;
    case kDomain:
      if (in.size() < 2) return {Status::kNeedMore};
      addr_len = in[1];
      skip = 2;
      break;
    default: return {Status::kError, 0, {}, "unknown address type", Reply::kAddressTypeNotSupported};
  }
  if (in.size() < skip + addr_len + 2) return {Status::kNeedMore};
  std::span<const uint8_t> addr = in.subspan(skip, addr_len);
  Address out{Status::kDone, skip + addr_len + 2};
  if (in[0] == kIpv4) {
    ip::address_v4::bytes_type b;
    std::memcpy(b.data(), addr.data(), 4);
    out.target.host = ip::address_v4(b).to_string();
  } else if (in[0] == kIpv6) {
    ip::address_v6::bytes_type b;
    std::memcpy(b.data(), addr.data(), 16);
    out.target.host = ip::address_v6(b).to_string();
  } else {
    if (!plausible_name(addr)) return {Status::kError, 0, {}, "invalid domain name", Reply::kHostUnreachable};
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

Parsed<Greeting> parse_greeting(std::span<const uint8_t> in) {
  if (in.empty()) return {};
  if (in[0] != kVersion) return error<Greeting>("not SOCKS version 5");
  if (in.size() < 2) return {};
  size_t n = in[1];
  if (n == 0) return error<Greeting>("no authentication methods offered");
  if (in.size() < 2 + n) return {};
  Greeting g;
  for (uint8_t m : in.subspan(2, n)) {
    if (m == static_cast<uint8_t>(Method::kNoAuth)) g.no_auth = true;
    if (m == static_cast<uint8_t>(Method::kUserPass)) g.user_pass = true;
  }
  return done(2 + n, g);
}

Parsed<Credentials> parse_credentials(std::span<const uint8_t> in) {
  if (in.empty()) return {};
  if (in[0] != kAuthVersion) return error<Credentials>("not username/password version 1");
  if (in.size() < 2) return {};
  size_t ulen = in[1];
  if (in.size() < 2 + ulen + 1) return {};
  size_t plen = in[2 + ulen];
  if (in.size() < 3 + ulen + plen) return {};
  if (ulen == 0) return error<Credentials>("empty username");
  auto user = in.subspan(2, ulen), password = in.subspan(3 + ulen, plen);
  return done(3 + ulen + plen, Credentials{{user.begin(), user.end()}, {password.begin(), password.end()}});
}

Parsed<Request> parse_request(std::span<const uint8_t> in) {
  if (in.empty()) return {};
  if (in[0] != kVersion) return error<Request>("request is not SOCKS version 5");
  if (in.size() < 4) return {};
  uint8_t cmd = in[1];
  if (cmd != static_cast<uint8_t>(Command::kConnect) && cmd != static_cast<uint8_t>(Command::kUdpAssociate))
    return error<Request>(cmd == static_cast<uint8_t>(Command::kBind) ? "BIND is not supported" : "unknown command",
                          Reply::kCommandNotSupported);
  Address a = parse_address(in.subspan(3));
  if (a.status == Status::kNeedMore) return {};
  if (a.status == Status::kError) return error<Request>(a.error, a.reply);
  return done(3 + a.used, Request{static_cast<Command>(cmd), std::move(a.target)});
}

Parsed<Datagram> parse_udp_header(std::span<const uint8_t> in) {
  if (in.size() < 4) return error<Datagram>("datagram shorter than its header");
  if (in[0] != 0 || in[1] != 0) return error<Datagram>("reserved bytes are not zero");
  if (in[2] != 0) return error<Datagram>("fragments are not supported");
  Address a = parse_address(in.subspan(3));
  if (a.status == Status::kNeedMore) return error<Datagram>("datagram shorter than its header");
  if (a.status == Status::kError) return error<Datagram>(a.error);
  return done(in.size(), Datagram{std::move(a.target), 3 + a.used});
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

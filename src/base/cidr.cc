#include "base/cidr.h"

#include <algorithm>
#include <charconv>

namespace ugate {
namespace {

using boost::asio::ip::address;

address unmapped(const address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  return a;
}

// The address as bytes in network order (4 or 16 of them).
std::vector<uint8_t> bytes_of(const address& a) {
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    return {b.begin(), b.end()};
  }
  auto b = a.to_v6().to_bytes();
  return {b.begin(), b.end()};
}

// Whether the first `bits` bits of a and b are equal (same length).
bool same_prefix(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, unsigned bits) {
  for (size_t i = 0; bits > 0; ++i, bits = bits > 8 ? bits - 8 : 0) {
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (b[i] & mask)) return false;
  }
  return true;
}

}  // namespace

bool Cidr::contains(const address& a) const {
  address x = unmapped(a);
  if (x.is_v4() != network.is_v4()) return false;
  return same_prefix(bytes_of(x), bytes_of(network), prefix);
}

std::string Cidr::str() const { return network.to_string() + "/" + std::to_string(prefix); }

std::optional<Cidr> parse_cidr(std::string_view text, std::string* why) {
  auto fail = [&](std::string msg) -> std::optional<Cidr> {
    if (why) *why = std::move(msg);
    return std::nullopt;
  };
  std::string_view host = text.substr(0, text.find('/'));
  boost::system::error_code ec;
  Cidr c;
  c.network = boost::asio::ip::make_address(std::string(host), ec);
  if (ec || host.find('%') != std::string_view::npos)
    return fail("expected an IP address or ADDRESS/PREFIX, got '" + std::string(text) + "'");
  const unsigned max = c.network.is_v4() ? 32 : 128;
  c.prefix = static_cast<uint8_t>(max);
  if (host.size() < text.size()) {
    std::string_view len = text.substr(host.size() + 1);
    unsigned value = 0;
    auto [end, err] = std::from_chars(len.data(), len.data() + len.size(), value);
    if (len.empty() || err != std::errc() || end != len.data() + len.size() || value > max)
      return fail("the prefix length of '" + std::string(text) + "' is not 0 to " + std::to_string(max));
    c.prefix = static_cast<uint8_t>(value);
  }
  // The network with the host bits cleared, to compare and to suggest.
  std::vector<uint8_t> bits = bytes_of(c.network), masked = bits;
  for (unsigned i = c.prefix; i < max; ++i) masked[i / 8] &= static_cast<uint8_t>(~(0x80u >> (i % 8)));
  if (masked != bits) {
    address network;
    if (c.network.is_v4()) {
      boost::asio::ip::address_v4::bytes_type b{};
      std::copy(masked.begin(), masked.end(), b.begin());
      network = boost::asio::ip::address_v4(b);
    } else {
      boost::asio::ip::address_v6::bytes_type b{};
      std::copy(masked.begin(), masked.end(), b.begin());
      network = boost::asio::ip::address_v6(b);
    }
    return fail("'" + std::string(text) + "' has host bits set: the network is " + Cidr{network, c.prefix}.str());
  }
  if (c.network.is_v6() && c.network.to_v6().is_v4_mapped() && c.prefix >= 96) {
    c.network = unmapped(c.network);  // how IPv4 clients of a [::] listener look: the IPv4 range meant
    c.prefix = static_cast<uint8_t>(c.prefix - 96);
  }
  return c;
}

bool in_any(const std::vector<Cidr>& ranges, const address& a) {
  for (const auto& r : ranges)
    if (r.contains(a)) return true;
  return false;
}

}  // namespace ugate

#include <boost/asio/ip/address.hpp>

#include "config/readers.h"

namespace ugate::config_yaml {
namespace {

// Whether clients from other hosts can reach the address: not loopback.
bool exposed(const HostPort& address) {
  if (address.unix_socket) return false;
  if (address.host == "localhost") return false;
  boost::system::error_code ec;
  auto ip = boost::asio::ip::make_address(address.host, ec);
  return ec || !ip.is_loopback();  // a name other than localhost: assume it resolves to a network's address
}

// Listeners whose connections arrive through the workers' accept loops, from addresses.
bool accepts_from_addresses(const ListenerConfig& l) {
  return !l.is(kDatagram) && !l.is(kControlThread) && !l.is(kQuicTransport) && !l.address.unix_socket;
}

}  // namespace

SourceRateLimit read_source_rate_limit(const Reader& r, const YAML::Node& n, const std::string& key) {
  if (n.IsScalar() && (n.Scalar() == "off" || n.Scalar() == "false")) return {};
  r.only_keys(n, key, {"per_second", "burst"});
  if (!n["per_second"]) r.fail(n, key, "missing 'per_second: N' (new connections per second from one address)");
  SourceRateLimit limit;
  limit.per_second = static_cast<uint32_t>(r.number(n["per_second"], Reader::join(key, "per_second"), 1'000'000));
  if (!limit.per_second) r.fail(n["per_second"], Reader::join(key, "per_second"), "must be above 0 (or source_rate_limit: off)");
  limit.burst = limit.per_second;
  if (n["burst"]) {
    limit.burst = static_cast<uint32_t>(r.number(n["burst"], Reader::join(key, "burst"), 1'000'000));
    if (!limit.burst) r.fail(n["burst"], Reader::join(key, "burst"), "must be above 0");
  }
  return limit;
}

void read_listener_source_rate_limit(const Reader& r, const YAML::Node& n, const std::string& key,
                                     const ListenerDefaults& d, ListenerConfig& l) {
  const YAML::Node own = n["source_rate_limit"];
  if (!own) {
    if (accepts_from_addresses(l) && exposed(l.address)) l.source_rate_limit = d.source_rate_limit;
    return;
  }
  const std::string at = Reader::join(key, "source_rate_limit");
  if (!accepts_from_addresses(l))
    r.fail(own, at, "only for listeners that accept connections from addresses (not " +
                        (l.address.unix_socket ? std::string("a Unix socket") : std::string(to_string(l.protocol))) + ")");
  l.source_rate_limit = read_source_rate_limit(r, own, at);
}

}  // namespace ugate::config_yaml

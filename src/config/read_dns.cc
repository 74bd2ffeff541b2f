#include "config/readers.h"

namespace ugate::config_yaml {

DnsConfig read_dns(const Reader& r, const YAML::Node& n, uint16_t base) {
  const std::string key = "dns";
  DnsConfig d;
  r.only_keys(n, key, {"zone", "ipv4_range", "ipv6_range", "ttl", "upstreams", "timeout", "attempts", "cache_entries",
                       "max_cache_ttl"});
  if (n["zone"]) {
    d.zone = r.scalar(n["zone"], Reader::join(key, "zone"));
    if (d.zone.ends_with('.')) d.zone.pop_back();
    if (d.zone.empty() || d.zone.size() > 200 || d.zone.find("..") != std::string::npos || d.zone.starts_with('.'))
      r.fail(n["zone"], Reader::join(key, "zone"), "expected a domain name such as mesh.internal");
  }
  auto range = [&](const char* k, bool v4) -> std::optional<Cidr> {
    if (!n[k]) return std::nullopt;
    const std::string at = Reader::join(key, k);
    std::string why;
    auto c = parse_cidr(r.scalar(n[k], at), &why);
    if (!c) r.fail(n[k], at, why);
    if (c->network.is_v4() != v4) r.fail(n[k], at, v4 ? "expected an IPv4 range" : "expected an IPv6 range");
    if (c->prefix > (v4 ? 30 : 126)) r.fail(n[k], at, "too narrow for even one node");
    return c;
  };
  if (auto c = range("ipv4_range", true)) d.ipv4_range = *c;
  if (auto c = range("ipv6_range", false)) d.ipv6_range = *c;
  if (n["ttl"]) d.ttl = static_cast<uint32_t>(r.number(n["ttl"], Reader::join(key, "ttl"), 86'400));
  if (const auto& u = n["upstreams"]) {
    const std::string at = Reader::join(key, "upstreams");
    if (!u.IsSequence()) r.fail(u, at, "expected a list of IP:PORT");
    for (size_t i = 0; i < u.size(); ++i) {
      const std::string k = at + "[" + std::to_string(i) + "]";
      HostPort hp = r.address(u[i], k, base, false);
      boost::system::error_code ec;
      boost::asio::ip::make_address(hp.host, ec);
      if (ec) r.fail(u[i], k, "expected an IP address and port (an upstream resolver is not looked up by name)");
      d.upstreams.push_back(hp);
    }
  }
  if (n["timeout"]) {
    d.timeout = r.duration(n["timeout"], Reader::join(key, "timeout"));
    if (d.timeout < Duration(10)) r.fail(n["timeout"], Reader::join(key, "timeout"), "must be 10ms or more");
  }
  if (n["attempts"]) {
    d.attempts = static_cast<uint32_t>(r.number(n["attempts"], Reader::join(key, "attempts"), 10));
    if (d.attempts == 0) r.fail(n["attempts"], Reader::join(key, "attempts"), "must be 1 or more");
  }
  if (n["cache_entries"])
    d.cache_entries = static_cast<uint32_t>(r.number(n["cache_entries"], Reader::join(key, "cache_entries"), 10'000'000));
  if (n["max_cache_ttl"])
    d.max_cache_ttl = static_cast<uint32_t>(r.number(n["max_cache_ttl"], Reader::join(key, "max_cache_ttl"), 604'800));
  return d;
}

}  // namespace ugate::config_yaml

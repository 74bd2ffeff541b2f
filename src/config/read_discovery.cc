#include "config/readers.h"

namespace ugate::config_yaml {

DiscoveryConfig read_discovery(const Reader& r, const YAML::Node& n) {
  const std::string key = "discovery";
  DiscoveryConfig d;
  d.ttl = 3 * d.interval;
  if (n.IsScalar()) {
    d.enabled = r.boolean(n, key);
    return d;
  }
  r.only_keys(n, key, {"enabled", "port", "interval", "ttl", "max_clock_skew", "interfaces"});
  d.enabled = n["enabled"] ? r.boolean(n["enabled"], Reader::join(key, "enabled")) : true;
  if (n["port"]) {
    d.port = static_cast<uint16_t>(r.number(n["port"], Reader::join(key, "port"), 65535));
    if (d.port == 0) r.fail(n["port"], Reader::join(key, "port"), "must be above 0");
  }
  if (n["interval"]) d.interval = r.duration(n["interval"], Reader::join(key, "interval"));
  if (d.interval < Duration(100)) r.fail(n["interval"], Reader::join(key, "interval"), "must be 100ms or more");
  d.ttl = 3 * d.interval;
  if (n["ttl"]) {
    d.ttl = r.duration(n["ttl"], Reader::join(key, "ttl"));
    if (d.ttl <= d.interval) r.fail(n["ttl"], Reader::join(key, "ttl"), "must be longer than the interval");
  }
  if (n["max_clock_skew"]) d.max_clock_skew = r.duration(n["max_clock_skew"], Reader::join(key, "max_clock_skew"));
  if (d.max_clock_skew < Duration(1000))
    r.fail(n["max_clock_skew"], Reader::join(key, "max_clock_skew"), "must be 1s or more");
  if (n["interfaces"]) d.interfaces = r.scalars(n["interfaces"], Reader::join(key, "interfaces"));
  return d;
}

}  // namespace ugate::config_yaml

#include "config/readers.h"

namespace ugate::config_yaml {

StunClientConfig read_stun_client(const Reader& r, const YAML::Node& n, uint16_t base) {
  const std::string key = "stun_client";
  StunClientConfig c;
  r.only_keys(n, key, {"servers", "interval"});
  const YAML::Node& servers = n["servers"];
  if (!servers) r.fail(n, key, "servers: a list of HOST:PORT is needed");
  if (servers.IsScalar()) {
    c.servers.push_back(r.address(servers, Reader::join(key, "servers"), base, false));
  } else {
    if (!servers.IsSequence() || servers.size() == 0)
      r.fail(servers, Reader::join(key, "servers"), "expected a list of HOST:PORT");
    for (size_t i = 0; i < servers.size(); ++i)
      c.servers.push_back(r.address(servers[i], Reader::join(key, "servers") + "[" + std::to_string(i) + "]", base, false));
  }
  if (n["interval"]) c.interval = r.duration(n["interval"], Reader::join(key, "interval"));
  if (c.interval < Duration(1000)) r.fail(n["interval"], Reader::join(key, "interval"), "must be 1s or more");
  return c;
}

}  // namespace ugate::config_yaml

#include "config/readers.h"

namespace ugate::config_yaml {

// accept_proxy_protocol: { from: [CIDR, ...] }: the load balancers whose
// connections start with a PROXY header. Only doors that accept connections
// on the workers read one; a capture door's original destination is the
// point of it, and a UDP, QUIC or webpush listener has no such door.
void read_accept_proxy_protocol(const Reader& r, const YAML::Node& n, const std::string& key, ListenerConfig& l) {
  if (l.is(kDatagram) || l.is(kControlThread) || l.is(kCapture) || l.is(kOwnAnswers) ||
      l.is(kQuicTransport))  // stun, dns: their UDP side has none; quic: no TCP at all
    r.fail(n, key, "only for listeners that accept TCP connections from clients (not " +
                       std::string(to_string(l.protocol)) + ")");
  r.only_keys(n, key, {"from"});
  const std::string from_key = Reader::join(key, "from");
  if (!n["from"]) r.fail(n, key, "missing 'from: [CIDR, ...]' (the load balancers' addresses)");
  const YAML::Node from = n["from"];
  std::vector<std::string> ranges = r.scalars(from, from_key);
  if (ranges.empty()) r.fail(from, from_key, "needs at least one address or CIDR");
  for (size_t i = 0; i < ranges.size(); ++i) {
    std::string why;
    auto cidr = parse_cidr(ranges[i], &why);
    if (!cidr) r.fail(from.IsSequence() ? from[i] : from, from_key + (from.IsSequence() ? "[" + std::to_string(i) + "]" : ""), why);
    l.accept_proxy_protocol_from.push_back(*cidr);
  }
}

}  // namespace ugate::config_yaml

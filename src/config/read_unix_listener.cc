#include <charconv>
#include <tuple>

#include "base/account_id.h"
#include "config/readers.h"

namespace ugate::config_yaml {

HostPort read_address(const Reader& r, const YAML::Node& n, const std::string& key, uint16_t base, bool allow_zero) {
  std::string text = r.scalar(n, key);
  if (!is_unix_address(text)) return r.address(n, key, base, allow_zero);
  std::string why;
  auto address = parse_unix_address(text, &why);
  if (!address) r.fail(n, key, why + " in '" + text + "'");
  return *address;
}

// A Unix socket listener (the protocol read): its file's mode, owner and
// group, and the options that only an IP listener can have refused.
void read_unix_listener(const Reader& r, const YAML::Node& n, const std::string& key, ListenerConfig& l) {
  const bool file = l.address.unix_socket && !l.address.host.starts_with('@');
  for (const char* k : {"mode", "owner", "group"}) {
    if (n[k] && !file)
      r.fail(n[k], Reader::join(key, k),
             l.address.unix_socket ? "an abstract socket (unix:@NAME) has no file" : "only for address: unix:/PATH");
  }
  if (!l.address.unix_socket) return;
  const std::string protocol(to_string(l.protocol));
  if (!l.is(kUnixListener))
    r.fail(n["address"], Reader::join(key, "address"),
           "a " + protocol + " listener cannot listen on a Unix socket (only " + protocols_with(kUnixListener) + ")");
  for (const char* k : {"tproxy", "accept_proxy_protocol", "proxy_protocol"}) {
    if (n[k])
      r.fail(n[k], Reader::join(key, k), "not on a Unix socket listener (its clients have no IP address to pass on)");
  }
  if (n["mode"]) {
    const std::string at = Reader::join(key, "mode");
    std::string text = r.scalar(n["mode"], at);
    uint32_t mode = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), mode, 8);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || mode > 0777)
      r.fail(n["mode"], at, "expected octal permission bits like 0660 (at most 0777), got '" + text + "'");
    l.socket_file.mode = mode;
  }
  for (auto [k, out, is_group] : {std::tuple{"owner", &l.socket_file.owner, false},
                                  std::tuple{"group", &l.socket_file.group, true}}) {
    if (!n[k]) continue;
    const std::string at = Reader::join(key, k);
    std::string text = r.scalar(n[k], at);
    *out = account_id(text, is_group);
    if (!*out) r.fail(n[k], at, std::string("no such ") + (is_group ? "group" : "user") + " '" + text + "'");
  }
}

}  // namespace ugate::config_yaml

#include <boost/asio/ip/address.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/readers.h"

namespace ugate::config_yaml {
namespace {

void add_user(const Reader& r, const YAML::Node& at, const std::string& key, TurnConfig& t, TurnUser u) {
  if (u.name.empty() || u.name.size() > 255 || u.password.empty() || u.password.size() > 255)
    r.fail(at, key, "expected a name and a password of 1 to 255 bytes");
  for (const auto& other : t.users)
    if (other.name == u.name) r.fail(at, key, "duplicate user '" + u.name + "'");
  t.users.push_back(std::move(u));
}

// users_file: one "name:password" a line (coturn's `user=` form); '#' starts a comment line.
void read_users_file(const Reader& r, const YAML::Node& at, const std::string& key, TurnConfig& t) {
  t.users_file = r.scalar(at, key);
  std::ifstream in(t.users_file);
  if (!in) r.fail(at, key, "cannot read '" + t.users_file + "': " + std::strerror(errno));
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos)
      r.fail(at, key, t.users_file + " line " + std::to_string(number) + ": expected name:password");
    add_user(r, at, key + " (" + t.users_file + " line " + std::to_string(number) + ")", t,
             {line.substr(0, colon), line.substr(colon + 1)});
  }
}

std::vector<Cidr> read_cidrs(const Reader& r, const YAML::Node& n, const std::string& key) {
  std::vector<Cidr> out;
  for (const auto& text : r.scalars(n, key)) {
    std::string why;
    auto cidr = parse_cidr(text, &why);
    if (!cidr) r.fail(n, key, "'" + text + "': " + why);
    out.push_back(*cidr);
  }
  return out;
}

}  // namespace

// turn: { realm, users, users_file, auth_secret, relay_address, relay_ports,
// max_allocations, max_allocations_per_user, default_lifetime, max_lifetime,
// nonce_lifetime, bandwidth, allow_peers, deny_peers }.
TurnConfig read_turn(const Reader& r, const YAML::Node& n, const std::string& key, const ListenerConfig& l) {
  r.only_keys(n, key,
              {"realm", "users", "users_file", "auth_secret", "relay_address", "relay_ports", "max_allocations",
               "max_allocations_per_user", "default_lifetime", "max_lifetime", "nonce_lifetime", "bandwidth",
               "allow_peers", "deny_peers"});
  TurnConfig t;
  t.enabled = true;
  auto at = [&](const char* k) { return Reader::join(key, k); };
  if (!n["realm"]) r.fail(n, key, "missing 'realm:' (part of every long-term credential)");
  t.realm = r.scalar(n["realm"], at("realm"));
  if (t.realm.empty() || t.realm.size() > 127) r.fail(n["realm"], at("realm"), "expected 1 to 127 bytes");
  if (n["users"]) {
    const YAML::Node list = n["users"];
    if (!list.IsSequence()) r.fail(list, at("users"), "expected a list of { name, password }");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string k = at("users") + "[" + std::to_string(i) + "]";
      r.only_keys(list[i], k, {"name", "password"});
      add_user(r, list[i], k, t,
               {r.scalar(list[i]["name"], Reader::join(k, "name")), r.scalar(list[i]["password"], Reader::join(k, "password"))});
    }
  }
  if (n["users_file"]) read_users_file(r, n["users_file"], at("users_file"), t);
  if (n["auth_secret"]) {
    t.auth_secret = r.scalar(n["auth_secret"], at("auth_secret"));
    if (t.auth_secret.size() < 16) r.fail(n["auth_secret"], at("auth_secret"), "expected at least 16 bytes");
  }
  if (t.users.empty() && t.auth_secret.empty())
    r.fail(n, key, "needs users, users_file or auth_secret: TURN relays only for those who have credentials");
  if (n["relay_address"]) {
    t.relay_address = r.scalar(n["relay_address"], at("relay_address"));
    boost::system::error_code ec;
    auto ip = boost::asio::ip::make_address(t.relay_address, ec);
    if (ec || ip.is_unspecified()) r.fail(n["relay_address"], at("relay_address"), "expected an IP address");
  } else {
    boost::system::error_code ec;
    auto ip = boost::asio::ip::make_address(l.address.host, ec);
    if (ec || ip.is_unspecified())
      r.fail(n, key, "missing 'relay_address: IP' (the listener's address is not one IP, and clients are told the relay's)");
  }
  if (n["relay_ports"]) {
    const std::string text = r.scalar(n["relay_ports"], at("relay_ports"));
    unsigned first = 0, last = 0;
    char dash = 0;
    std::istringstream in(text);
    if (!(in >> first >> dash >> last) || dash != '-' || !in.eof() || first == 0 || first > last || last > 65535)
      r.fail(n["relay_ports"], at("relay_ports"), "expected FIRST-LAST, 1 to 65535 (for example 49152-65535)");
    t.relay_port_min = static_cast<uint16_t>(first);
    t.relay_port_max = static_cast<uint16_t>(last);
  }
  if (n["max_allocations"])
    t.max_allocations = static_cast<uint32_t>(r.number(n["max_allocations"], at("max_allocations"), 1'000'000));
  if (n["max_allocations_per_user"])
    t.max_allocations_per_user =
        static_cast<uint32_t>(r.number(n["max_allocations_per_user"], at("max_allocations_per_user"), 1'000'000));
  for (auto [k, field] : {std::pair{"default_lifetime", &TurnConfig::default_lifetime},
                          std::pair{"max_lifetime", &TurnConfig::max_lifetime},
                          std::pair{"nonce_lifetime", &TurnConfig::nonce_lifetime}}) {
    if (!n[k]) continue;
    t.*field = r.duration(n[k], at(k));
    if (t.*field < Duration(1000)) r.fail(n[k], at(k), "must be at least 1s");
  }
  if (t.default_lifetime > t.max_lifetime)
    r.fail(n, key, "default_lifetime is above max_lifetime");
  if (n["bandwidth"]) t.bandwidth = r.number(n["bandwidth"], at("bandwidth"), uint64_t{1} << 40);
  if (n["allow_peers"]) t.allow_peers = read_cidrs(r, n["allow_peers"], at("allow_peers"));
  if (n["deny_peers"]) t.deny_peers = read_cidrs(r, n["deny_peers"], at("deny_peers"));
  return t;
}

}  // namespace ugate::config_yaml

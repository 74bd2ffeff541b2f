#include "codec/forwarded.h"

#include <cctype>
#include <charconv>
#include <string>

namespace ugate {
namespace {

bool is_tchar(char c) {
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return std::isalnum(static_cast<unsigned char>(c)) || kExtra.find(c) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

void skip_ows(std::string_view s, size_t& at) {
  while (at < s.size() && (s[at] == ' ' || s[at] == '\t')) ++at;
}

// A pair's value at `at`: a quoted-string (escapes undone) or a token. A
// token may also hold ':' and brackets here: some peers leave `for=[::1]:80`
// unquoted, and nothing else could be meant by it.
bool read_value(std::string_view s, size_t& at, std::string& out) {
  if (at < s.size() && s[at] == '"') {
    for (++at; at < s.size();) {
      char c = s[at++];
      if (c == '"') return true;
      if (c == '\\') {
        if (at == s.size()) return false;
        c = s[at++];
      }
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return false;
      out += c;
    }
    return false;  // no closing quote
  }
  size_t start = at;
  while (at < s.size() && (is_tchar(s[at]) || s[at] == ':' || s[at] == '[' || s[at] == ']')) ++at;
  out.assign(s.substr(start, at - start));
  return at > start;
}

// The value of the first element's `for` pair: "" when it has none, nullopt
// when the header is malformed.
std::optional<std::string> first_for(std::string_view s) {
  size_t at = 0;
  while (at < s.size() && (s[at] == ',' || s[at] == ' ' || s[at] == '\t')) ++at;  // empty list elements
  std::optional<std::string> found;
  while (at < s.size() && s[at] != ',') {
    if (s[at] == ';') {  // an empty pair
      ++at;
      skip_ows(s, at);
      continue;
    }
    size_t name_start = at;
    while (at < s.size() && is_tchar(s[at])) ++at;
    std::string_view name = s.substr(name_start, at - name_start);
    if (name.empty() || at == s.size() || s[at] != '=') return std::nullopt;
    ++at;
    std::string value;
    if (!read_value(s, at, value)) return std::nullopt;
    if (iequals(name, "for")) {
      if (found) return std::nullopt;  // a parameter occurs at most once in an element
      found = std::move(value);
    }
    skip_ows(s, at);
    if (at < s.size() && s[at] == ';') {
      ++at;
      skip_ows(s, at);
    } else if (at < s.size() && s[at] != ',') {
      return std::nullopt;
    }
  }
  return found ? found : std::string();
}

std::optional<boost::asio::ip::address> ip_literal(std::string_view text) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return a;
}

// node = nodename [ ":" node-port ]; an obfuscated port ("_x") is unknown: 0.
std::optional<TcpEndpoint> parse_node(std::string_view node) {
  std::string_view host = node, port;
  if (node.starts_with('[')) {
    size_t close = node.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = node.substr(1, close - 1);
    std::string_view rest = node.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return std::nullopt;
    if (!rest.empty()) port = rest.substr(1);
  } else if (auto whole = ip_literal(node)) {
    return TcpEndpoint(*whole, 0);  // IPv4 without a port, or IPv6 its sender left unbracketed
  } else if (size_t colon = node.find(':'); colon != std::string_view::npos) {
    host = node.substr(0, colon);
    port = node.substr(colon + 1);
  }
  auto address = ip_literal(host);  // "unknown" and "_obfuscated" are no addresses
  if (!address || (node.starts_with('[') != address->is_v6())) return std::nullopt;
  uint16_t number = 0;
  if (!port.empty() && port[0] != '_') {
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc() || end != port.data() + port.size() || port.size() > 5) return std::nullopt;
  } else if (node.ends_with(':')) {
    return std::nullopt;  // a colon with no port after it
  }
  return TcpEndpoint(*address, number);
}

}  // namespace

std::optional<TcpEndpoint> forwarded_client(std::string_view header) {
  auto node = first_for(header);
  if (!node || node->empty()) return std::nullopt;
  return parse_node(*node);
}

}  // namespace ugate

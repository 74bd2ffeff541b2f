#include "base/endpoint.h"

#include <arpa/inet.h>

#include <cctype>
#include <charconv>

namespace ugate {

std::string HostPort::str() const {
  if (unix_socket) return "unix:" + host;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<HostPort> parse_host_port(std::string_view text, std::string* why, bool allow_zero) {
  auto fail = [&](std::string msg) -> std::optional<HostPort> {
    if (why) *why = std::move(msg);
    return std::nullopt;
  };
  HostPort hp;
  std::string_view port_text;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos) return fail("missing ']' after IPv6 address");
    hp.host = std::string(text.substr(1, close - 1));
    if (close + 1 >= text.size() || text[close + 1] != ':') return fail("expected ':PORT' after ']'");
    port_text = text.substr(close + 2);
    unsigned char buf[16];
    if (inet_pton(AF_INET6, hp.host.c_str(), buf) != 1) return fail("'" + hp.host + "' is not an IPv6 address");
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("expected HOST:PORT");
    hp.host = std::string(text.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) return fail("IPv6 addresses need brackets: [ADDR]:PORT");
    port_text = text.substr(colon + 1);
  }
  if (hp.host.empty()) return fail("empty host");
  for (char c : hp.host) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':' ||
              c == '%';
    if (!ok) return fail("invalid character in host '" + hp.host + "'");
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || value > 65535)
    return fail("invalid port '" + std::string(port_text) + "'");
  if (value == 0 && !allow_zero) return fail("port 0 is not allowed here");
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

std::optional<HostPort> parse_unix_address(std::string_view text, std::string* why) {
  auto fail = [&](std::string msg) -> std::optional<HostPort> {
    if (why) *why = std::move(msg);
    return std::nullopt;
  };
  constexpr size_t kMaxPath = 107;  // sizeof(sockaddr_un::sun_path) - 1: a path keeps its NUL
  if (!is_unix_address(text)) return fail("expected unix:/PATH or unix:@NAME");
  std::string_view path = text.substr(5);
  if (path.empty()) return fail("empty Unix socket path");
  if (path.find('\0') != std::string_view::npos) return fail("NUL in Unix socket path");
  if (path[0] == '@') {
    if (path.size() == 1) return fail("empty abstract socket name after '@'");
  } else if (path[0] != '/') {
    return fail("a Unix socket path must be absolute (unix:/PATH), or abstract (unix:@NAME)");
  } else if (path.back() == '/') {
    return fail("a Unix socket path names a file, not a directory");
  }
  if (path.size() > kMaxPath) return fail("Unix socket path longer than 107 bytes");
  return HostPort{std::string(path), 0, true};
}

}  // namespace ugate

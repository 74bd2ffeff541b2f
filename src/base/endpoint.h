#pragma once
// HOST:PORT values as they appear in config and requests ("[v6]:port" for IPv6),
// and the Unix socket addresses a config may name instead ("unix:/path", "unix:@abstract").
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ugate {

struct HostPort {
  std::string host;  // a DNS name or an IP literal (IPv6 without brackets); a Unix socket's path
  uint16_t port = 0;
  // A Unix stream socket: `host` is its path, or "@name" in the abstract
  // namespace; port 0. Only the config sets it: nothing a client sends
  // (SOCKS5, CONNECT, HBONE) makes one, so no client reaches a local socket.
  bool unix_socket = false;

  std::string str() const;  // brackets IPv6 literals again; "unix:PATH" for a Unix socket
  bool empty() const { return port == 0 && !unix_socket; }  // unset (a destination not chosen yet)
  bool operator==(const HostPort&) const = default;
};

// Parses "host:port", "[v6]:port". Port 0 is allowed only when allow_zero is
// set (listeners may ask the kernel for a port). On failure returns nullopt
// and, when `why` is given, says what is wrong.
std::optional<HostPort> parse_host_port(std::string_view text, std::string* why = nullptr,
                                        bool allow_zero = false);

// "unix:/absolute/path" or "unix:@abstract-name" (at most 107 bytes, the
// kernel's limit, no NUL); nullopt with `why` otherwise.
std::optional<HostPort> parse_unix_address(std::string_view text, std::string* why = nullptr);
inline bool is_unix_address(std::string_view text) { return text.starts_with("unix:"); }

}  // namespace ugate

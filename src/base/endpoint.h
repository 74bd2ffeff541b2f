#pragma once
// HOST:PORT values as they appear in config and requests ("[v6]:port" for IPv6).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ugate {

struct HostPort {
  std::string host;  // a DNS name or an IP literal (IPv6 without brackets)
  uint16_t port = 0;

  std::string str() const;  // brackets IPv6 literals again
  bool operator==(const HostPort&) const = default;
};

// Parses "host:port", "[v6]:port". Port 0 is allowed only when allow_zero is
// set (listeners may ask the kernel for a port). On failure returns nullopt
// and, when `why` is given, says what is wrong.
std::optional<HostPort> parse_host_port(std::string_view text, std::string* why = nullptr,
                                        bool allow_zero = false);

}  // namespace ugate

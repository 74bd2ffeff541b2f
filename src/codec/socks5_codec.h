#pragma once
// SOCKS5 (RFC 1928) and its username/password sub-negotiation (RFC 1929),
// sans I/O: parsers take the bytes received so far and say how many they used,
// encoders produce the server's answers. No sockets, no allocation beyond the
// parsed strings; malformed input is an error, never a crash (libFuzzer target
// tests/fuzz/socks5_fuzz.cc).
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/endpoint.h"
#include "base/result.h"

namespace ugate::socks5 {

inline constexpr uint8_t kVersion = 5;
inline constexpr uint8_t kAuthVersion = 1;  // RFC 1929

enum class Method : uint8_t { kNoAuth = 0x00, kUserPass = 0x02, kNoAcceptable = 0xFF };
enum class Command : uint8_t { kConnect = 1, kBind = 2, kUdpAssociate = 3 };

// REP values (RFC 1928 section 6).
enum class Reply : uint8_t {
  kSucceeded = 0,
  kGeneralFailure = 1,
  kNotAllowed = 2,
  kNetworkUnreachable = 3,
  kHostUnreachable = 4,
  kConnectionRefused = 5,
  kTtlExpired = 6,
  kCommandNotSupported = 7,
  kAddressTypeNotSupported = 8,
};

enum class Error : uint8_t {
  kNeedMore = 1,         // a valid prefix of the message: read more
  kNotVersion5,          // the greeting's VER is not 5
  kNoMethods,            // NMETHODS is 0
  kNotAuthVersion1,      // the sub-negotiation's VER is not 1
  kEmptyUser,
  kRequestNotVersion5,   // the request's VER is not 5
  kBindNotSupported,
  kUnknownCommand,
  kUnknownAddressType,
  kBadDomainName,        // empty, or not printable ASCII without spaces
  kShortDatagram,        // a datagram shorter than its header
  kReservedNotZero,      // a datagram's RSV bytes
  kFragmented,           // a datagram with FRAG set
};
std::string_view to_string(Error e);
// The reply a request's error is answered with before closing; nullopt:
// close without one (the client does not speak SOCKS5).
std::optional<Reply> error_reply(Error e);

// Each message says how many bytes it took (`size`): what follows is the next one's.
struct Greeting {
  bool no_auth = false;    // the client offers method 0
  bool user_pass = false;  // the client offers method 2
  size_t size = 0;
};

struct Credentials {
  std::string user;
  std::string password;
  size_t size = 0;
};

struct Request {
  Command command = Command::kConnect;
  HostPort target;  // an IP literal (IPv6 without brackets) or a domain name
  size_t size = 0;
};

struct Datagram {
  HostPort target;
  size_t header_size = 0;  // the payload starts here
};

// Largest message each parser may need (they never ask for more).
inline constexpr size_t kMaxGreeting = 2 + 255;
inline constexpr size_t kMaxCredentials = 3 + 255 + 255;
inline constexpr size_t kMaxRequest = 4 + 1 + 255 + 2;
// Largest UDP header we write (IPv6 source); room kept in front of payloads.
inline constexpr size_t kMaxUdpReplyHeader = 4 + 16 + 2;

Result<Greeting, Error> parse_greeting(std::span<const uint8_t> in);
Result<Credentials, Error> parse_credentials(std::span<const uint8_t> in);
Result<Request, Error> parse_request(std::span<const uint8_t> in);
// A whole datagram from the client (never kNeedMore: a short one is an error).
Result<Datagram, Error> parse_udp_header(std::span<const uint8_t> in);

// VER METHOD
std::string method_reply(Method m);
// VER STATUS (RFC 1929): 0 accepts, anything else refuses.
std::string auth_reply(bool ok);
// VER REP RSV ATYP BND.ADDR BND.PORT; an unset `bound` is sent as 0.0.0.0:0.
std::string reply(Reply rep, const boost::asio::ip::tcp::endpoint& bound);
std::string reply(Reply rep, const boost::asio::ip::udp::endpoint& bound);
// Writes RSV RSV FRAG ATYP ADDR PORT for a datagram from `from` so that it
// ends right before `payload`; returns its size (at most kMaxUdpReplyHeader).
size_t write_udp_header(const boost::asio::ip::udp::endpoint& from, uint8_t* payload);

}  // namespace ugate::socks5

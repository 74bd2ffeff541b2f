#pragma once
// The STUN server's answer to one received message (RFC 8489 Binding, with
// RFC 5780's NAT behaviour discovery when a second address is configured),
// sans-I/O: bytes in, bytes out and the socket to send them from. The UDP
// and TCP servers (server.h) only move bytes; TURN's methods will be decided
// beside Binding here, with long-term credentials next to the short-term ones.
#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stun/message.h"

namespace ugate::stun {

enum class Transport : uint8_t { kUdp, kTcp, kCount };
std::string_view to_string(Transport t);

// What became of a received message; counted per listener and transport.
enum class Outcome : uint8_t {
  kSuccess,           // a success response
  kBadRequest,        // 400: malformed, unknown method, integrity or username missing
  kUnauthorized,      // 401: unknown username or wrong MESSAGE-INTEGRITY
  kUnknownAttribute,  // 420: comprehension-required attributes we do not know (UNKNOWN-ATTRIBUTES)
  kNotStun,           // dropped: not a STUN message (header, cookie, length)
  kBadFingerprint,    // dropped: FINGERPRINT wrong (RFC 8489 section 7.3: silently)
  kNotRequest,        // dropped: an indication or a response (nothing to answer)
  kCount
};
std::string_view to_string(Outcome o);
// The error code of an error answer (400, 401, 420), else 0.
int answer_code(Outcome o);

// A short-term credential (RFC 8489 section 9.1): the password is the key.
struct ShortTermUser {
  std::string username;
  std::string password;
};

struct ServerOptions {
  std::string software = "ugate";      // SOFTWARE in every answer
  std::vector<ShortTermUser> users;    // empty: requests need no MESSAGE-INTEGRITY
  // RFC 5780: the listener's address (A1:P1) and the other one (A2:P2);
  // without `other`, CHANGE-REQUEST, RESPONSE-PORT and PADDING are unknown (420).
  Address primary;
  std::optional<Address> other;
};

// One of the four RFC 5780 sockets: bit 0 the other IP, bit 1 the other port.
using Origin = uint8_t;
inline constexpr Origin kPrimary = 0, kOtherIp = 1, kOtherPort = 2;
// The address of socket `o`.
Address origin_address(const ServerOptions& s, Origin o);

struct Received {
  std::span<const uint8_t> bytes;
  Transport transport = Transport::kUdp;
  Address source;
  Origin on = kPrimary;  // the socket it arrived on
};

struct Answer {
  Outcome outcome = Outcome::kNotStun;
  std::vector<uint8_t> bytes;  // empty: no answer
  Origin from = kPrimary;      // the socket that sends it (CHANGE-REQUEST)
  Address to;                  // the source, or its IP and RESPONSE-PORT
  std::string detail;          // what was wrong, for the log
};

Answer answer(const ServerOptions& s, const Received& r);

}  // namespace ugate::stun

#pragma once
// Which protocol a connection's first bytes speak, for the auto door: a TLS
// ClientHello (with its SNI and ALPN), an HTTP/1.x request, the HTTP/2
// prior-knowledge preface, or a SOCKS5 greeting.
//
// Sans-I/O and incremental like parse_client_hello: call it with every byte
// peeked so far; kNeedMore asks for more. Only a ClientHello may need more
// than a few dozen bytes, and never more than kMaxHelloBytes. Malformed
// input is an error with a reason, never a crash (fuzzed).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"
#include "codec/tls_hello.h"

namespace ugate {

enum class Sniffed : uint8_t {
  kTls = 1,  // a whole ClientHello; `hello` holds its SNI and ALPN
  kHttp1,    // an HTTP/1.x request line has begun (METHOD SP)
  kH2c,      // the whole HTTP/2 connection preface (RFC 9113 3.4)
  kSocks5,   // a SOCKS5 greeting has begun (VER 5, NMETHODS > 0)
};

struct Sniff {
  Sniffed what = Sniffed::kTls;
  ClientHello hello;  // kTls
};

// None of the protocols above (or not yet). A struct, to carry the
// ClientHello parser's own reason for kBadHello.
struct SniffError {
  enum Reason : uint8_t {
    kNeedMore = 1,    // a prefix of one of the protocols: peek again
    kNotTls,          // starts like TLS, but is not a handshake record
    kBadHello,        // a malformed ClientHello: `hello` says how
    kHelloTooLarge,   // no whole ClientHello within kMaxSniffBytes
    kNoSocksMethods,  // a SOCKS5 greeting without methods
    kEmptyMethod,     // an HTTP request line that starts with a space
    kBadMethod,       // not an HTTP method
    kLongMethod,      // longer than any HTTP method
    kUnknown,         // not TLS, HTTP/1, HTTP/2 or SOCKS5
  };
  Reason reason = kUnknown;
  HelloError hello{};
  bool operator==(Reason r) const { return reason == r; }
};
std::string to_string(const SniffError& e);

// The bytes a sniffer may need to peek: a whole ClientHello.
inline constexpr size_t kMaxSniffBytes = kMaxHelloBytes;

Result<Sniff, SniffError> sniff_protocol(std::span<const uint8_t> bytes);

// "tls", "http1", "h2c", "socks5" (a static string: StreamMeta::sniffed points at it).
std::string_view to_string(Sniffed s);

}  // namespace ugate

#pragma once
// Which protocol a connection's first bytes speak, for the auto door: a TLS
// ClientHello (with its SNI and ALPN), an HTTP/1.x request, the HTTP/2
// prior-knowledge preface, or a SOCKS5 greeting.
//
// Sans-I/O and incremental like parse_client_hello: call it with every byte
// peeked so far; it says whether it needs more. Only a ClientHello may need
// more than a few dozen bytes, and never more than kMaxHelloBytes.
// Malformed input is kUnknown with a reason, never a crash (fuzzed).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "codec/tls_hello.h"

namespace ugate {

enum class Sniffed : uint8_t {
  kNeedMore,  // a prefix of one of the protocols below: peek again
  kTls,       // a whole ClientHello; `hello` holds its SNI and ALPN
  kHttp1,     // an HTTP/1.x request line has begun (METHOD SP)
  kH2c,       // the whole HTTP/2 connection preface (RFC 9113 3.4)
  kSocks5,    // a SOCKS5 greeting has begun (VER 5, NMETHODS > 0)
  kUnknown,   // none of these; `error` says why
};

struct SniffResult {
  Sniffed what = Sniffed::kNeedMore;
  ClientHello hello;
  std::string error;
};

// The bytes a sniffer may need to peek: a whole ClientHello.
inline constexpr size_t kMaxSniffBytes = kMaxHelloBytes;

SniffResult sniff_protocol(std::span<const uint8_t> bytes);

// "tls", "http1", "h2c", "socks5" (a static string: StreamMeta::sniffed points at it); "" otherwise.
std::string_view to_string(Sniffed s);

}  // namespace ugate

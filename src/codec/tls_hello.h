#pragma once
// Reads the SNI and ALPN out of a TLS ClientHello without terminating TLS,
// for routing by name (the TLS door) and for protocol sniffing.
//
// Incremental: call it with every byte received so far; it says whether it
// needs more. The handshake message may be split across several TLS records
// and those across TCP segments. Sizes are bounded; malformed input is an
// error with a reason, never a crash (there is a libFuzzer target).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ugate {

struct ClientHello {
  std::string sni;                 // "" when the client sent none
  std::vector<std::string> alpn;   // in the client's order
};

enum class HelloStatus : uint8_t {
  kNeedMore,  // a prefix of a valid ClientHello: read more (up to kMaxHelloBytes)
  kDone,      // parsed; `hello` is filled in
  kNotTls,    // the first bytes are not a TLS handshake record
  kError,     // looks like TLS but is malformed or too large; `error` says why
};

struct HelloResult {
  HelloStatus status;
  ClientHello hello;
  std::string error;
};

// The most bytes a ClientHello may take, records and headers included.
inline constexpr size_t kMaxHelloBytes = 16 * 1024;

HelloResult parse_client_hello(std::span<const uint8_t> bytes);

}  // namespace ugate

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
#include <string_view>
#include <vector>

#include "base/result.h"

namespace ugate {

struct ClientHello {
  std::string sni;                 // "" when the client sent none
  std::vector<std::string> alpn;   // in the client's order
};

enum class HelloError : uint8_t {
  kNeedMore = 1,        // a prefix of a valid ClientHello: read more (up to kMaxHelloBytes)
  kNotTls,              // the first bytes are not a TLS handshake record
  // Looks like TLS but is malformed or too large:
  kRecordType,          // a record of another type inside the ClientHello
  kRecordVersion,
  kRecordLength,
  kNotClientHello,      // the first handshake message is another one
  kTooLarge,            // more than kMaxHelloBytes
  kSessionId,           // longer than 32 bytes
  kCipherSuites,
  kCompression,
  kExtensionsLength,    // does not match the message
  kTruncatedExtension,
  kTwoServerNames,      // two server_name extensions
  kBadServerName,       // the server_name extension is malformed
  kTruncatedName,
  kBadHostName,         // not a host name (letters, digits, '.', '-', '_')
  kTwoAlpn,             // two ALPN extensions
  kBadAlpn,             // the ALPN extension is malformed
  kBadAlpnName,         // an empty or truncated protocol name
};
std::string_view to_string(HelloError e);

// The most bytes a ClientHello may take, records and headers included.
inline constexpr size_t kMaxHelloBytes = 16 * 1024;

Result<ClientHello, HelloError> parse_client_hello(std::span<const uint8_t> bytes);

}  // namespace ugate

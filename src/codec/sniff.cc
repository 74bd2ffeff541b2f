#include "codec/sniff.h"

#include <algorithm>

namespace ugate {
namespace {

constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// Registered methods are upper-case letters and '-' (RFC 9110 16.1), the
// longest 17 bytes (UPDATEREDIRECTREF); anything longer is not a request.
constexpr size_t kMaxMethod = 20;
constexpr uint8_t kTlsHandshake = 0x16;
constexpr uint8_t kSocks5 = 0x05;

using Sniffing = Result<Sniff, SniffError>;

Sniffing found(Sniffed what) { return Sniff{what, {}}; }
Sniffing fail(SniffError::Reason why) { return SniffError{why}; }

Sniffing sniff_tls(std::span<const uint8_t> bytes) {
  auto h = parse_client_hello(bytes);
  if (h) return Sniff{Sniffed::kTls, std::move(*h)};
  switch (h.error()) {
    case HelloError::kNeedMore:
      return fail(bytes.size() >= kMaxSniffBytes ? SniffError::kHelloTooLarge : SniffError::kNeedMore);
    case HelloError::kNotTls: return fail(SniffError::kNotTls);
    default: return SniffError{SniffError::kBadHello, h.error()};
  }
}

bool method_char(uint8_t c) { return (c >= 'A' && c <= 'Z') || c == '-' || c == '_'; }

Sniffing sniff_http(std::span<const uint8_t> bytes) {
  // The preface starts like a request with method PRI: wait for all of it.
  size_t common = std::min(bytes.size(), kH2Preface.size());
  if (std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(common), kH2Preface.begin()))
    return common == kH2Preface.size() ? found(Sniffed::kH2c) : fail(SniffError::kNeedMore);
  for (size_t i = 0; i < bytes.size() && i <= kMaxMethod; ++i) {
    if (bytes[i] == ' ') return i > 0 ? found(Sniffed::kHttp1) : fail(SniffError::kEmptyMethod);
    if (!method_char(bytes[i])) return fail(SniffError::kBadMethod);
  }
  return fail(bytes.size() > kMaxMethod ? SniffError::kLongMethod : SniffError::kNeedMore);
}

}  // namespace

std::string to_string(const SniffError& e) {
  switch (e.reason) {
    case SniffError::kNeedMore: return "incomplete";
    case SniffError::kNotTls: return "not a TLS handshake record";
    case SniffError::kBadHello: return "malformed ClientHello: " + std::string(to_string(e.hello));
    case SniffError::kHelloTooLarge: return "ClientHello too large";
    case SniffError::kNoSocksMethods: return "SOCKS5 greeting without methods";
    case SniffError::kEmptyMethod: return "empty HTTP method";
    case SniffError::kBadMethod: return "not an HTTP method";
    case SniffError::kLongMethod: return "HTTP method too long";
    case SniffError::kUnknown: break;
  }
  return "not TLS, HTTP/1, HTTP/2 or SOCKS5";
}

Result<Sniff, SniffError> sniff_protocol(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return fail(SniffError::kNeedMore);
  if (bytes[0] == kTlsHandshake) return sniff_tls(bytes);
  if (bytes[0] == kSocks5) {
    if (bytes.size() < 2) return fail(SniffError::kNeedMore);
    return bytes[1] > 0 ? found(Sniffed::kSocks5) : fail(SniffError::kNoSocksMethods);
  }
  if (method_char(bytes[0])) return sniff_http(bytes);
  return fail(SniffError::kUnknown);
}

std::string_view to_string(Sniffed s) {
  switch (s) {
    case Sniffed::kTls: return "tls";
    case Sniffed::kHttp1: return "http1";
    case Sniffed::kH2c: return "h2c";
    case Sniffed::kSocks5: return "socks5";
  }
  return "";
}

}  // namespace ugate

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

SniffResult result(Sniffed what, std::string error = {}) { return {what, {}, std::move(error)}; }

SniffResult sniff_tls(std::span<const uint8_t> bytes) {
  HelloResult h = parse_client_hello(bytes);
  switch (h.status) {
    case HelloStatus::kNeedMore:
      if (bytes.size() >= kMaxSniffBytes) return result(Sniffed::kUnknown, "ClientHello too large");
      return result(Sniffed::kNeedMore);
    case HelloStatus::kDone: return {Sniffed::kTls, std::move(h.hello), {}};
    case HelloStatus::kNotTls: return result(Sniffed::kUnknown, "not a TLS handshake record");
    case HelloStatus::kError: break;
  }
  return result(Sniffed::kUnknown, "malformed ClientHello: " + h.error);
}

bool method_char(uint8_t c) { return (c >= 'A' && c <= 'Z') || c == '-' || c == '_'; }

SniffResult sniff_http(std::span<const uint8_t> bytes) {
  // The preface starts like a request with method PRI: wait for all of it.
  size_t common = std::min(bytes.size(), kH2Preface.size());
  if (std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(common), kH2Preface.begin()))
    return result(common == kH2Preface.size() ? Sniffed::kH2c : Sniffed::kNeedMore);
  for (size_t i = 0; i < bytes.size() && i <= kMaxMethod; ++i) {
    if (bytes[i] == ' ') return i > 0 ? result(Sniffed::kHttp1) : result(Sniffed::kUnknown, "empty HTTP method");
    if (!method_char(bytes[i])) return result(Sniffed::kUnknown, "not an HTTP method");
  }
  return bytes.size() > kMaxMethod ? result(Sniffed::kUnknown, "HTTP method too long") : result(Sniffed::kNeedMore);
}

}  // namespace

SniffResult sniff_protocol(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return result(Sniffed::kNeedMore);
  if (bytes[0] == kTlsHandshake) return sniff_tls(bytes);
  if (bytes[0] == kSocks5) {
    if (bytes.size() < 2) return result(Sniffed::kNeedMore);
    return bytes[1] > 0 ? result(Sniffed::kSocks5) : result(Sniffed::kUnknown, "SOCKS5 greeting without methods");
  }
  if (method_char(bytes[0])) return sniff_http(bytes);
  return result(Sniffed::kUnknown, "not TLS, HTTP/1, HTTP/2 or SOCKS5");
}

std::string_view to_string(Sniffed s) {
  switch (s) {
    case Sniffed::kTls: return "tls";
    case Sniffed::kHttp1: return "http1";
    case Sniffed::kH2c: return "h2c";
    case Sniffed::kSocks5: return "socks5";
    case Sniffed::kNeedMore:
    case Sniffed::kUnknown: break;
  }
  return "";
}

}  // namespace ugate

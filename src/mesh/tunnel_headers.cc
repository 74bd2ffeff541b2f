#include "mesh/tunnel_headers.h"

#include <openssl/rand.h>

#include <array>

namespace ugate {
namespace {

std::string hex(const uint8_t* p, size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

// version 00, a random trace ID and parent ID, sampled.
std::string new_traceparent() {
  std::array<uint8_t, 24> r{};
  if (RAND_bytes(r.data(), static_cast<int>(r.size())) != 1) return "";
  return "00-" + hex(r.data(), 16) + "-" + hex(r.data() + 16, 8) + "-01";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> tunnel_headers(const StreamMeta& m) {
  std::vector<std::pair<std::string, std::string>> out;
  if (m.source.port() != 0) {
    // The port makes the value a quoted string; IPv6 is bracketed (RFC 7239 section 6).
    std::string node = "for=\"" + format_endpoint(m.source) + "\"";
    auto before = m.headers.find("forwarded");
    out.emplace_back("forwarded", before ? std::string(*before) + ", " + node : node);
  }
  if (auto baggage = m.headers.find("baggage")) out.emplace_back("baggage", std::string(*baggage));
  auto trace = m.headers.find("traceparent");
  std::string traceparent = trace ? std::string(*trace) : new_traceparent();
  if (!traceparent.empty()) out.emplace_back("traceparent", std::move(traceparent));
  return out;
}

}  // namespace ugate

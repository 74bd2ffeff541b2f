// libFuzzer target: the line a node sends before HTTP/2 on ALPN h2rt,
// "UGATE-TOKEN <jwt>\r\n" (identity/registration_token), read one byte at a
// time as the mesh door reads it, then the token checked as a gateway does:
// two trusted issuers, trust domain mesh.test, the certificate key's node ID.
// An input that starts with a NUL byte is instead a claims set in JSON that
// the trusted issuer signs here, sent as a token line: then the checks after
// the signature (lifetime with a minute of leeway, sub as a SPIFFE ID of the
// trust domain, node_id) see what the fuzzer makes. The input and the token
// also go through the SPIFFE ID parser on their own.
//
// It must never crash or overflow; a line the parser takes must be exactly
// token_line() of its token; a granted ID must be a SPIFFE ID of mesh.test.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/base64.h"
#include "fuzz_keys.h"
#include "identity/registration_token.h"
#include "identity/spiffe.h"

namespace {
using namespace ugate;

constexpr std::string_view kNode = "aaaabbbbccccddddeeeeffffgggghhhhiiiijjjjkkkkllllmmmm";
constexpr std::string_view kHeader = R"({"typ":"JWT","alg":"ES256"})";

const RegistrationCheck& gateway() {
  static RegistrationCheck check = [] {
    RegistrationCheck c;
    c.issuers.push_back(fuzz::public_key(fuzz::kStrangerScalar));
    c.issuers.push_back(fuzz::public_key(fuzz::kIssuerScalar));
    c.trust_domain = "mesh.test";
    c.max_lifetime = std::chrono::hours(24 * 365 * 100);  // the seeds' exp (2096) stays within it
    return c;
  }();
  return check;
}

// A SPIFFE ID parses the same when written out again.
void check_spiffe(std::string_view text) {
  auto id = parse_spiffe_id(text);
  if (!id) return;
  auto again = parse_spiffe_id(id->str());
  if (!again || again->trust_domain != id->trust_domain || again->path != id->path) __builtin_trap();
  (void)id->ns();
  (void)id->name();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string bytes;
  if (!in.empty() && in[0] == '\0') {
    std::string signing_input = base64url_encode(kHeader) + "." + base64url_encode(in.substr(1));
    static crypto::Pkey issuer = fuzz::key_pair(fuzz::kIssuerScalar);
    auto sig = crypto::es256_sign(issuer.get(), as_bytes(signing_input));
    if (!sig) __builtin_trap();
    bytes = token_line(signing_input + "." + base64url_encode(*sig));
  } else {
    bytes = std::string(in);
  }

  // The door: one byte more until the parser decides.
  Result<std::string, TokenError> token = TokenError{TokenError::kNeedMore};
  size_t n = 0;
  while (token.need_more() && n < bytes.size()) token = parse_token_line(std::string_view(bytes).substr(0, ++n));
  if (token.need_more()) {
    if (n != bytes.size() || n >= kMaxTokenLine) __builtin_trap();  // only a short prefix waits for more
    return 0;
  }
  if (!token) {
    if (to_string(token.error()).empty()) __builtin_trap();
    if (token.error() == TokenError::kLineTooLong && n < kMaxTokenLine) __builtin_trap();
    return 0;
  }
  if (std::string_view(bytes).substr(0, n) != token_line(*token)) __builtin_trap();

  auto granted = verify_registration_token(*token, kNode, gateway());
  if (granted) {
    auto id = parse_spiffe_id(*granted);
    if (!id || id->trust_domain != "mesh.test") __builtin_trap();
  } else if (to_string(granted.error()).empty()) {
    __builtin_trap();
  }
  if (verify_registration_token(*token, "", gateway()).error() != TokenError::kNoNodeId) __builtin_trap();
  check_spiffe(*token);
  if (!in.empty() && in[0] != '\0') check_spiffe(in);
  return 0;
}

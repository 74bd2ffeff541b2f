// libFuzzer target: ES256 JWTs (identity/jwt), as VAPID (an Authorization
// header from any push sender, signed by the key it names) and reverse
// registration (the token line of h2rt) verify them.
//
// An input is either a token as received, verified as it is, or -- when it
// starts with a NUL byte -- a header and a claims set in JSON, separated by
// another NUL (just claims: the usual header), that the trusted key signs
// here: random bytes never carry a valid signature, and the checks after it
// (exp, nbf, lifetime, aud, sub, node_id) see only signed tokens.
//
// Each token is verified with the option sets ugate uses. It must never
// crash or overflow, and a token that verifies must satisfy every option,
// and its claims, signed again, must verify to the same claims. The input
// also goes through base64url and back.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/base64.h"
#include "fuzz_keys.h"
#include "identity/jwt.h"

namespace {
using namespace ugate;
using namespace ugate::jwt;

constexpr int64_t kNow = 1'700'000'000;
constexpr std::string_view kHeader = R"({"typ":"JWT","alg":"ES256"})";

const VerifyOptions kOptions[] = {
    // VAPID (webpush/vapid.cc)
    {.audience = "https://push.example.net", .now = kNow, .max_lifetime = 24 * 3600, .leeway = 60},
    // reverse registration (identity/registration_token.cc), 30 days
    {.audience = "spiffe://cluster.local", .now = kNow, .max_lifetime = 30 * 24 * 3600, .leeway = 60,
     .require_subject = true},
    // the least: signature and exp
    {.now = kNow},
    {.audience = "a", .now = kNow, .subject = "mailto:ops@example.com"},
};

EVP_PKEY* signer() {
  static crypto::Pkey k = fuzz::key_pair(fuzz::kIssuerScalar);
  return k.get();
}
EVP_PKEY* verifier() {
  static crypto::Pkey k = fuzz::public_key(fuzz::kIssuerScalar);
  return k.get();
}

void check(std::string_view token, const VerifyOptions& o, bool again) {
  auto r = verify_es256(token, verifier(), o);
  if (!r) {
    if (to_string(r.error()).empty()) __builtin_trap();
    return;
  }
  const Claims& c = *r;
  if (c.exp <= o.now - o.leeway) __builtin_trap();
  if (o.max_lifetime > 0 && c.exp > o.now + o.max_lifetime + o.leeway) __builtin_trap();
  if (!o.audience.empty() && c.aud != o.audience) __builtin_trap();
  if (o.require_subject && c.sub.empty()) __builtin_trap();
  if (!o.subject.empty() && c.sub != o.subject) __builtin_trap();
  if (!again) return;
  // What verified, signed again, verifies to the same claims.
  auto token2 = sign_es256(c, signer());
  if (!token2) __builtin_trap();
  auto r2 = verify_es256(*token2, verifier(), o);
  if (!r2 || r2->aud != c.aud || r2->exp != c.exp || r2->sub != c.sub || r2->node_id != c.node_id) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // base64url, which every part of a token is in, gives back what it encoded.
  auto decoded = base64url_decode(base64url_encode(in));
  if (!decoded || as_text(*decoded) != in) __builtin_trap();
  std::string token;
  if (!in.empty() && in[0] == '\0') {
    in.remove_prefix(1);
    size_t nul = in.find('\0');
    std::string_view header = nul == std::string_view::npos ? kHeader : in.substr(0, nul);
    std::string_view claims = nul == std::string_view::npos ? in : in.substr(nul + 1);
    token = base64url_encode(header) + "." + base64url_encode(claims);
    auto sig = crypto::es256_sign(signer(), as_bytes(token));
    if (!sig) __builtin_trap();
    token += "." + base64url_encode(*sig);
  } else {
    token = std::string(in);
  }
  for (const VerifyOptions& o : kOptions) check(token, o, &o == &kOptions[0] || &o == &kOptions[1]);
  return 0;
}

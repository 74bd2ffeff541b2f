// libFuzzer target: ES256 JWTs (identity/jwt), as VAPID (an Authorization
// header from any push sender, signed by the key it names) and reverse
// registration (the token line of h2rt) verify them.
//
// An input is a token as received, verified as it is; or, since random bytes
// never carry a valid signature and the checks after it (exp, nbf, lifetime,
// aud, sub, node_id) see only signed tokens, one that the trusted key signs
// here:
//  - NUL, then a header and a claims set in JSON separated by another NUL
//    (just claims: the usual header);
//  - 0x01, then claims in binary, so that any number is one mutation away:
//    a flags byte (which claims, as which JSON type), exp and nbf as 8 bytes
//    each (little-endian), then sub, NUL, node_id.
//
// Each token is verified with the option sets ugate uses. It must never
// crash or overflow, and a token that verifies must satisfy every option,
// and its claims, signed again, must verify to the same claims. The input
// also goes through base64url and back.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

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

// The claims of a 0x01 input, as JSON.
std::string binary_claims(std::string_view in) {
  auto u8 = [&](size_t at) { return at < in.size() ? static_cast<uint8_t>(in[at]) : uint8_t{0}; };
  auto i64 = [&](size_t at) {
    uint64_t v = 0;
    for (size_t i = 0; i < 8; ++i) v |= uint64_t{u8(at + i)} << (8 * i);
    return v;
  };
  uint8_t flags = u8(0);
  nlohmann::json j = nlohmann::json::object();
  auto number = [](uint64_t v, bool as_unsigned, bool as_float) {
    if (as_float) return nlohmann::json(static_cast<double>(static_cast<int64_t>(v)) / 7.0);
    if (as_unsigned) return nlohmann::json(v);
    return nlohmann::json(static_cast<int64_t>(v));
  };
  if (flags & 1) j["exp"] = number(i64(1), flags & 2, flags & 4);
  if (flags & 8) j["nbf"] = number(i64(9), false, flags & 16);
  j["aud"] = flags & 32 ? nlohmann::json::array({"x", "https://push.example.net"})
                        : nlohmann::json(flags & 64 ? "spiffe://cluster.local" : "https://push.example.net");
  std::string_view rest = in.size() > 17 ? in.substr(17) : std::string_view();
  size_t nul = rest.find('\0');
  std::string sub(rest.substr(0, nul)), node = nul == std::string_view::npos ? "" : std::string(rest.substr(nul + 1));
  // Strings as JSON must be UTF-8: bytes above 0x7f become '?'.
  for (auto* s : {&sub, &node})
    for (char& c : *s) c = static_cast<unsigned char>(c) < 0x80 ? c : '?';
  if (!sub.empty()) j["sub"] = sub;
  if ((flags & 128) || !node.empty()) j["node_id"] = node;
  return j.dump();
}

std::string signed_token(std::string_view header, std::string_view claims) {
  std::string token = base64url_encode(header) + "." + base64url_encode(claims);
  auto sig = crypto::es256_sign(signer(), as_bytes(token));
  if (!sig) __builtin_trap();
  return token + "." + base64url_encode(*sig);
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
    token = signed_token(header, nul == std::string_view::npos ? in : in.substr(nul + 1));
  } else if (!in.empty() && in[0] == '\x01') {
    token = signed_token(kHeader, binary_claims(in.substr(1)));
  } else {
    token = std::string(in);
  }
  for (const VerifyOptions& o : kOptions) check(token, o, &o == &kOptions[0] || &o == &kOptions[1]);
  return 0;
}

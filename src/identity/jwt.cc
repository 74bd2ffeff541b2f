#include "identity/jwt.h"

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "crypto/p256.h"

namespace ugate::jwt {
namespace {

using nlohmann::json;

constexpr std::string_view kHeader = R"({"typ":"JWT","alg":"ES256"})";

// A base64url segment holding a JSON object; a discarded json otherwise.
json decode_object(std::string_view segment) {
  auto bytes = base64url_decode(segment);
  if (!bytes) return json(json::value_t::discarded);
  json j = json::parse(bytes->begin(), bytes->end(), nullptr, false);
  return j.is_object() ? j : json(json::value_t::discarded);
}

// A NumericDate claim (RFC 7519 section 2): a JSON number, fractions allowed.
// Beyond INT64_MAX it is INT64_MAX (is_number_integer() is true for unsigned
// numbers too, which get<int64_t>() would wrap to negative: ask first).
std::optional<int64_t> numeric_date(const json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  if (it->is_number_unsigned()) return static_cast<int64_t>(std::min<uint64_t>(it->get<uint64_t>(), INT64_MAX));
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float() && std::isfinite(it->get<double>()) && std::abs(it->get<double>()) < 1e15)
    return static_cast<int64_t>(std::floor(it->get<double>()));
  return INT64_MIN;  // present but not a number: malformed
}

bool audience_matches(const json& aud, const std::string& want) {
  if (aud.is_string()) return aud.get_ref<const std::string&>() == want;
  if (aud.is_array())
    for (const auto& a : aud)
      if (a.is_string() && a.get_ref<const std::string&>() == want) return true;
  return false;
}

}  // namespace

std::string_view to_string(Error e) {
  switch (e) {
    case Error::kMalformed: return "malformed token";
    case Error::kUnsupportedAlgorithm: return "unsupported algorithm (only ES256)";
    case Error::kBadKey: return "key is not EC P-256";
    case Error::kBadSignature: return "signature does not verify";
    case Error::kExpired: return "token expired (or has no exp)";
    case Error::kNotYetValid: return "token not yet valid (nbf)";
    case Error::kLifetimeTooLong: return "exp too far in the future";
    case Error::kWrongAudience: return "wrong audience";
    case Error::kMissingSubject: return "no subject (sub)";
    case Error::kWrongSubject: return "wrong subject";
  }
  return "unknown JWT error";
}

std::optional<std::string> sign_es256(const Claims& claims, EVP_PKEY* key) {
  json payload = {{"aud", claims.aud}, {"exp", claims.exp}};
  if (!claims.sub.empty()) payload["sub"] = claims.sub;
  if (!claims.node_id.empty()) payload["node_id"] = claims.node_id;
  std::string signing_input = base64url_encode(kHeader) + "." + base64url_encode(payload.dump());
  auto sig = crypto::es256_sign(key, as_bytes(signing_input));
  if (!sig) return std::nullopt;
  return signing_input + "." + base64url_encode(*sig);
}

Result<Claims, Error> verify_es256(std::string_view token, EVP_PKEY* key, const VerifyOptions& o) {
  if (token.size() > kMaxTokenSize) return Error::kMalformed;
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) return Error::kMalformed;

  json header = decode_object(token.substr(0, dot1));
  json claims = decode_object(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (header.is_discarded() || claims.is_discarded() || !signature) return Error::kMalformed;
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) return Error::kMalformed;
  if (*alg != "ES256") return Error::kUnsupportedAlgorithm;
  if (!crypto::is_p256(key)) return Error::kBadKey;
  if (!crypto::es256_verify(key, as_bytes(token.substr(0, dot2)), *signature)) return Error::kBadSignature;

  int64_t now = o.now ? o.now
                      : std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  auto exp = numeric_date(claims, "exp");
  auto nbf = numeric_date(claims, "nbf");
  if (exp == INT64_MIN || nbf == INT64_MIN) return Error::kMalformed;
  // The leeway goes on `now`: exp or nbf near INT64_MAX or INT64_MIN must not overflow.
  if (!exp || *exp <= now - o.leeway) return Error::kExpired;
  if (nbf && *nbf > now + o.leeway) return Error::kNotYetValid;
  if (o.max_lifetime > 0 && *exp - now > o.max_lifetime + o.leeway) return Error::kLifetimeTooLong;

  Claims out;
  out.exp = *exp;
  auto aud = claims.find("aud");
  if (!o.audience.empty() && (aud == claims.end() || !audience_matches(*aud, o.audience)))
    return Error::kWrongAudience;
  if (aud != claims.end() && aud->is_string()) out.aud = *aud;
  else if (!o.audience.empty()) out.aud = o.audience;

  auto sub = claims.find("sub");
  if (sub != claims.end() && !sub->is_string()) return Error::kMalformed;
  if (sub != claims.end()) out.sub = *sub;
  if (o.require_subject && out.sub.empty()) return Error::kMissingSubject;
  if (!o.subject.empty() && out.sub != o.subject) return Error::kWrongSubject;
  auto node = claims.find("node_id");
  if (node != claims.end() && !node->is_string()) return Error::kMalformed;
  if (node != claims.end()) out.node_id = *node;
  return out;
}

}  // namespace ugate::jwt

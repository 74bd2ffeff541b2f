#include "webpush/vapid.h"

#include <algorithm>
#include <cctype>

#include "crypto/p256.h"

namespace ugate::webpush {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::string> origin_of(std::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  std::string scheme(url.substr(0, scheme_end));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  if (scheme != "https" && scheme != "http") return std::nullopt;
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string host(authority);
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  // The default port is left out of an origin's serialization.
  std::string default_port = scheme == "https" ? ":443" : ":80";
  if (host.ends_with(default_port)) host.resize(host.size() - default_port.size());
  return scheme + "://" + host;
}

std::optional<std::string> make_vapid_header(EVP_PKEY* key, std::string_view audience, std::string_view subject,
                                             int64_t expires_at) {
  Bytes pub = crypto::p256_public_raw(key);
  if (pub.empty()) return std::nullopt;
  auto token = jwt::sign_es256({std::string(audience), expires_at, std::string(subject)}, key);
  if (!token) return std::nullopt;
  return "vapid t=" + *token + ", k=" + base64url_encode(pub);
}

std::string to_string(const VapidFailure& f) {
  switch (f.error) {
    case VapidError::kMissing: return "no Authorization header";
    case VapidError::kNotVapid: return "Authorization is not the vapid scheme";
    case VapidError::kMalformed: return "malformed vapid credentials (need t= and k=)";
    case VapidError::kBadKey: return "vapid k= is not a P-256 public key";
    case VapidError::kBadToken: return "vapid token: " + std::string(jwt::to_string(f.jwt));
  }
  return "vapid error";
}

Result<VapidIdentity, VapidFailure> verify_vapid(std::string_view authorization, std::string_view audience,
                                                 int64_t now) {
  authorization = trim(authorization);
  if (authorization.empty()) return VapidFailure{VapidError::kMissing};
  size_t space = authorization.find_first_of(" \t");
  if (!iequals(authorization.substr(0, space), "vapid")) return VapidFailure{VapidError::kNotVapid};
  if (space == std::string_view::npos || authorization.size() > jwt::kMaxTokenSize + 256)
    return VapidFailure{VapidError::kMalformed};

  // auth-params: t=..., k=... in any order, optional spaces, values maybe quoted.
  std::optional<std::string_view> t, k;
  std::string_view params = authorization.substr(space + 1);
  while (!params.empty()) {
    size_t comma = params.find(',');
    std::string_view item = trim(params.substr(0, comma));
    params = comma == std::string_view::npos ? std::string_view() : params.substr(comma + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) return VapidFailure{VapidError::kMalformed};
    std::string_view name = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    std::optional<std::string_view>* slot = iequals(name, "t") ? &t : iequals(name, "k") ? &k : nullptr;
    if (!slot) continue;  // unknown parameters are ignored
    if (*slot) return VapidFailure{VapidError::kMalformed};
    *slot = value;
  }
  if (!t || !k || t->empty() || k->empty()) return VapidFailure{VapidError::kMalformed};

  auto raw_key = base64url_decode(*k);
  crypto::Pkey key = raw_key ? crypto::p256_public_from_raw(*raw_key) : nullptr;
  if (!key) return VapidFailure{VapidError::kBadKey};
  auto claims = jwt::verify_es256(
      *t, key.get(), {.audience = std::string(audience), .now = now, .max_lifetime = kVapidMaxLifetime, .leeway = 60});
  if (!claims) return VapidFailure{VapidError::kBadToken, claims.error()};
  return VapidIdentity{std::move(*raw_key), std::move(*claims)};
}

}  // namespace ugate::webpush

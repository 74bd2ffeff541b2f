#include "identity/registration_token.h"

#include "identity/jwt.h"
#include "identity/spiffe.h"

namespace ugate {

std::string token_line(std::string_view jwt) { return std::string(kTokenLinePrefix) + std::string(jwt) + "\r\n"; }

std::optional<std::string> parse_token_line(std::string_view bytes, bool* bad, std::string* error) {
  *bad = false;
  size_t n = std::min(bytes.size(), kTokenLinePrefix.size());
  if (bytes.substr(0, n) != kTokenLinePrefix.substr(0, n)) {
    *bad = true;
    *error = "expected 'UGATE-TOKEN <jwt>' before HTTP/2 (ALPN h2rt)";
    return std::nullopt;
  }
  size_t end = bytes.find("\r\n");
  if (end == std::string_view::npos) {
    if (bytes.size() >= kMaxTokenLine) {
      *bad = true;
      *error = "token line too long";
    }
    return std::nullopt;
  }
  return std::string(bytes.substr(kTokenLinePrefix.size(), end - kTokenLinePrefix.size()));
}

std::optional<std::string> verify_registration_token(std::string_view token, std::string_view node_id,
                                                     const RegistrationCheck& check, std::string* error) {
  if (node_id.empty()) {
    *error = "the client certificate's key is not EC P-256 (no node ID to bind the token to)";
    return std::nullopt;
  }
  jwt::VerifyOptions options{.audience = "spiffe://" + check.trust_domain,
                             .max_lifetime = check.max_lifetime.count() / 1000,
                             .leeway = 60,
                             .require_subject = true};
  std::optional<jwt::Claims> claims;
  jwt::Error last = jwt::Error::kBadSignature;
  for (const auto& issuer : check.issuers) {
    auto r = jwt::verify_es256(token, issuer.get(), options);
    if (r) {
      claims = *r;
      break;
    }
    last = r.error();
    if (last != jwt::Error::kBadSignature) break;  // signed by this issuer, and wrong otherwise
  }
  if (!claims) {
    *error = check.issuers.empty() ? "no token issuers configured" : jwt::describe(last);
    return std::nullopt;
  }
  auto id = parse_spiffe_id(claims->sub);
  if (!id || id->trust_domain != check.trust_domain) {
    *error = "sub '" + claims->sub + "' is not a SPIFFE ID of trust domain " + check.trust_domain;
    return std::nullopt;
  }
  if (claims->node_id != node_id) {
    *error = "the token is for node '" + claims->node_id + "', the certificate's key is node " + std::string(node_id);
    return std::nullopt;
  }
  return id->str();
}

}  // namespace ugate

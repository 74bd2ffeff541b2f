#include "identity/registration_token.h"

#include "identity/jwt.h"
#include "identity/spiffe.h"

namespace ugate {

std::string token_line(std::string_view jwt) { return std::string(kTokenLinePrefix) + std::string(jwt) + "\r\n"; }

std::string to_string(const TokenError& e) {
  switch (e.reason) {
    case TokenError::kNeedMore: return "incomplete token line";
    case TokenError::kNotTokenLine: return "expected 'UGATE-TOKEN <jwt>' before HTTP/2 (ALPN h2rt)";
    case TokenError::kLineTooLong: return "token line too long";
    case TokenError::kNoNodeId:
      return "the client certificate's key is not EC P-256 (no node ID to bind the token to)";
    case TokenError::kNoIssuers: return "no token issuers configured";
    case TokenError::kBadJwt: return std::string(jwt::to_string(e.jwt));
    case TokenError::kForeignSubject:
      return "sub '" + e.claim + "' is not a SPIFFE ID of trust domain " + e.expected;
    case TokenError::kOtherNode:
      return "the token is for node '" + e.claim + "', the certificate's key is node " + e.expected;
  }
  return "token refused";
}

Result<std::string, TokenError> parse_token_line(std::string_view bytes) {
  size_t n = std::min(bytes.size(), kTokenLinePrefix.size());
  if (bytes.substr(0, n) != kTokenLinePrefix.substr(0, n)) return TokenError{TokenError::kNotTokenLine};
  size_t end = bytes.find("\r\n");
  if (end == std::string_view::npos)
    return TokenError{bytes.size() >= kMaxTokenLine ? TokenError::kLineTooLong : TokenError::kNeedMore};
  return std::string(bytes.substr(kTokenLinePrefix.size(), end - kTokenLinePrefix.size()));
}

Result<std::string, TokenError> verify_registration_token(std::string_view token, std::string_view node_id,
                                                         const RegistrationCheck& check) {
  if (node_id.empty()) return TokenError{TokenError::kNoNodeId};
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
  if (!claims && check.issuers.empty()) return TokenError{TokenError::kNoIssuers};
  if (!claims) return TokenError{TokenError::kBadJwt, last};
  auto id = parse_spiffe_id(claims->sub);
  if (!id || id->trust_domain != check.trust_domain)
    return TokenError{TokenError::kForeignSubject, {}, claims->sub, check.trust_domain};
  if (claims->node_id != node_id)
    return TokenError{TokenError::kOtherNode, {}, claims->node_id, std::string(node_id)};
  return id->str();
}

}  // namespace ugate

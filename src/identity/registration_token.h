#pragma once
// Reverse registration by token, for a node whose certificate is not from
// the mesh CA (a phone, a device with its own CA): it dials the gateway's
// mesh port with ALPN h2rt, presenting its own certificate (which proves only
// that it holds its key), and before HTTP/2 starts it sends one line
//
//     UGATE-TOKEN <ES256 JWT>\r\n
//
// The JWT is signed by an issuer the gateway trusts (registration_tokens:
// issuers) and names: aud "spiffe://<the gateway's trust domain>", sub the
// SPIFFE ID the node is registered as (in that trust domain), node_id the ID
// of the key the node's TLS certificate carries (so a copied token is no use
// without the key), and exp. Then h2rt goes on as h2r.
#include <string>
#include <string_view>
#include <vector>

#include "base/duration.h"
#include "base/result.h"
#include "crypto/p256.h"
#include "identity/jwt.h"

namespace ugate {

inline constexpr std::string_view kTokenLinePrefix = "UGATE-TOKEN ";
inline constexpr size_t kMaxTokenLine = 4096;

std::string token_line(std::string_view jwt);

// Why a token line or a token is refused. A struct, to carry the JWT's
// reason and the claims that did not match (the log names them).
struct TokenError {
  enum Reason : uint8_t {
    kNeedMore = 1,    // a prefix of the line: read more
    kNotTokenLine,    // not 'UGATE-TOKEN <jwt>'
    kLineTooLong,     // no line end within kMaxTokenLine
    kNoNodeId,        // the certificate's key is not P-256
    kNoIssuers,       // none configured
    kBadJwt,          // `jwt` says why
    kForeignSubject,  // sub (`claim`) is not a SPIFFE ID of trust domain `expected`
    kOtherNode,       // node_id (`claim`) is not the certificate key's node (`expected`)
  };
  Reason reason = kNotTokenLine;
  jwt::Error jwt{};
  std::string claim, expected;
  bool operator==(Reason r) const { return reason == r; }
};
std::string to_string(const TokenError& e);

// Feeds the bytes read so far: the token once the line is complete.
Result<std::string, TokenError> parse_token_line(std::string_view bytes);

struct RegistrationCheck {
  std::vector<crypto::Pkey> issuers;
  std::string trust_domain;  // the gateway's
  Duration max_lifetime{30LL * 24 * 3'600'000};
};

// The SPIFFE ID the token grants to the holder of `node_id`'s key, or which check failed.
Result<std::string, TokenError> verify_registration_token(std::string_view jwt, std::string_view node_id,
                                                         const RegistrationCheck& check);

}  // namespace ugate

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
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/duration.h"
#include "crypto/p256.h"

namespace ugate {

inline constexpr std::string_view kTokenLinePrefix = "UGATE-TOKEN ";
inline constexpr size_t kMaxTokenLine = 4096;

std::string token_line(std::string_view jwt);

// Feeds the bytes read so far: the token once the line is complete, nullopt
// while more may come; *bad (with *error) when it cannot be one.
std::optional<std::string> parse_token_line(std::string_view bytes, bool* bad, std::string* error);

struct RegistrationCheck {
  std::vector<crypto::Pkey> issuers;
  std::string trust_domain;  // the gateway's
  Duration max_lifetime{30LL * 24 * 3'600'000};
};

// The SPIFFE ID the token grants to the holder of `node_id`'s key, or
// nullopt and *error (which check failed).
std::optional<std::string> verify_registration_token(std::string_view jwt, std::string_view node_id,
                                                     const RegistrationCheck& check, std::string* error);

}  // namespace ugate

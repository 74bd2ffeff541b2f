#pragma once
// RFC 8292 VAPID: the application server's `Authorization: vapid t=JWT, k=KEY`
// header. Making one (for `ugate push send`) and checking one (in the push
// service, which also uses the key to enforce restricted subscriptions).
#include <openssl/evp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "identity/jwt.h"
#include "base/base64.h"
#include "base/result.h"

namespace ugate::webpush {

// RFC 8292 section 2: exp at most 24 hours ahead.
inline constexpr int64_t kVapidMaxLifetime = 24 * 3600;
// Tokens we make live this long (like npm web-push's default of 12 hours).
inline constexpr int64_t kVapidDefaultLifetime = 12 * 3600;

// "https://host[:port]" of an endpoint URL, the audience VAPID signs for;
// nullopt unless `url` is an absolute http(s) URL.
std::optional<std::string> origin_of(std::string_view url);

// The Authorization header value; nullopt if `key` is not a P-256 pair.
std::optional<std::string> make_vapid_header(EVP_PKEY* key, std::string_view audience, std::string_view subject,
                                             int64_t expires_at);

enum class VapidError : uint8_t {
  kMissing = 1,  // no Authorization header
  kNotVapid,     // another scheme
  kMalformed,    // t= or k= missing, repeated or unparsable
  kBadKey,       // k is not a P-256 public key
  kBadToken,     // the JWT failed; VapidFailure::jwt says why
};

// A struct, to carry the JWT's reason for kBadToken.
struct VapidFailure {
  VapidError error = VapidError::kMalformed;
  jwt::Error jwt{};
};
std::string to_string(const VapidFailure& f);

struct VapidIdentity {
  Bytes public_key;  // the application server's key (65 octets), which restriction compares
  jwt::Claims claims;
};

// Checks `authorization` (the header value) for `audience`, the push resource's origin.
Result<VapidIdentity, VapidFailure> verify_vapid(std::string_view authorization, std::string_view audience,
                                                 int64_t now = 0);

}  // namespace ugate::webpush

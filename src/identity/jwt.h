#pragma once
// ES256 JSON Web Tokens (RFC 7519 with RFC 7518's ECDSA P-256 SHA-256), in
// the form VAPID (RFC 8292) uses: header {"typ":"JWT","alg":"ES256"}, claims
// aud, exp and sub (and our node_id). Used by Web Push and by reverse registration.
//
// verify() checks, in this order: the shape, the algorithm, the signature,
// then exp (and nbf), aud and sub; the first failure is the error returned.
#include <openssl/evp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace ugate::jwt {

enum class Error : uint8_t {
  kMalformed = 1,         // not three base64url parts of JSON objects, or a claim of the wrong type
  kUnsupportedAlgorithm,  // alg is not ES256 (alg "none" included)
  kBadKey,                // the key is not an EC P-256 key
  kBadSignature,          // the signature does not verify with the key
  kExpired,               // exp is missing or not after now
  kNotYetValid,           // nbf is after now
  kLifetimeTooLong,       // exp is further ahead than the allowed lifetime
  kWrongAudience,         // aud does not name the expected audience
  kMissingSubject,        // sub required but absent
  kWrongSubject,          // sub differs from the expected one
};
std::string_view to_string(Error e);

struct Claims {
  std::string aud;  // one audience (verify also accepts an array holding it)
  int64_t exp = 0;  // seconds since the epoch
  std::string sub;  // empty: none
  // A private claim "node_id": the token is good only with the key of that
  // node (reverse registration by token; the key is proven by TLS). Empty: none.
  std::string node_id;
};

// header.payload.signature; nullopt if the key cannot sign ES256.
std::optional<std::string> sign_es256(const Claims& claims, EVP_PKEY* key);

struct VerifyOptions {
  std::string audience;             // aud must be (or contain) this; empty: not checked
  int64_t now = 0;                  // seconds since the epoch; 0: the system clock
  int64_t max_lifetime = 0;         // exp at most now + this (RFC 8292: 24 h); 0: no limit
  int64_t leeway = 0;               // seconds of clock skew allowed on exp and nbf
  bool require_subject = false;
  std::string subject;              // sub must equal this; empty: any
};

Result<Claims, Error> verify_es256(std::string_view token, EVP_PKEY* key, const VerifyOptions& options);

// The largest token accepted (VAPID tokens are a few hundred bytes).
inline constexpr size_t kMaxTokenSize = 8192;

}  // namespace ugate::jwt

#pragma once
// The node side of the gateway's CA: sends a CSR for the node's key to
// POST /ca/sign on the CA's mesh port (TLS 1.3, ALPN http/1.1) and returns
// the signed chain and the CA's roots. The first time a one-time bootstrap
// token authorizes it; renewals present the current certificate instead.
// Blocking, with timeouts: for start-up and the renewal thread only.
#include <chrono>

#include "crypto/ossl.h"
#include "identity/identity_config.h"

namespace ugate {

struct NodeIdentity;
struct WorkloadNames;

struct CaReply {
  ossl::Certs chain;
  ossl::Certs roots;
};

inline constexpr std::chrono::seconds kCaRequestTimeout{10};

// `current` null: bootstrap with the configured token; throws AuthError with
// what went wrong (unreachable, refused, bad token, bad reply).
CaReply request_certificate(const IdentityConfig& cfg, EVP_PKEY* key, const NodeIdentity* current,
                            const WorkloadNames& names);

}  // namespace ugate

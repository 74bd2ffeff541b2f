#pragma once
// Keys, certificates and requests as a real CA makes them: P-256 keys;
// roots with CA:TRUE, keyCertSign and cRLSign; leaves with CA:FALSE,
// digitalSignature, serverAuth + clientAuth, the SPIFFE URI SAN and DNS SANs,
// subject and authority key identifiers, a random 128-bit serial and a short
// back-dating against clock skew. Control plane: failures throw AuthError.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "crypto/ossl.h"
#include "crypto/pem.h"
#include "identity/spiffe.h"

namespace ugate {

using SysTime = std::chrono::system_clock::time_point;

ossl::PKey generate_p256_key();

struct IssueParams {
  EVP_PKEY* public_key = nullptr;
  std::string common_name;
  std::string organization;    // the trust domain, as Istio's CA writes it
  std::string spiffe_id;       // URI SAN; "" for a root
  std::vector<std::string> dns;
  std::chrono::seconds ttl{86400};
  bool is_ca = false;
};

// Validity starts this long before now (a tenth of the lifetime at most), so
// peers with a clock slightly behind accept a certificate fresh from the CA.
inline constexpr std::chrono::minutes kBackdate{5};

// Self-signed when `issuer` is null (a root: `issuer_key` is its own key).
// A leaf never outlives its issuer: its validity ends at the issuer's at most.
ossl::Cert issue_certificate(const IssueParams& p, X509* issuer, EVP_PKEY* issuer_key);

ossl::Csr make_csr(EVP_PKEY* key, const std::string& common_name, const std::string& spiffe_id,
                   const std::vector<std::string>& dns);

struct CertInfo {
  std::vector<std::string> uris;
  std::vector<std::string> dns;
  std::optional<SpiffeId> spiffe;  // when exactly one URI SAN is a valid SPIFFE ID
  std::string subject;             // one line, RFC 2253
  std::string organization;
  SysTime not_before{}, not_after{};
  bool is_ca = false;
};
CertInfo inspect(X509* cert);

// The names a CSR asks for, after its signature checked out (AuthError otherwise).
struct CsrInfo {
  std::vector<std::string> uris;
  std::vector<std::string> dns;
  std::string common_name;
};
CsrInfo inspect_verified_csr(X509_REQ* csr);

// "2026-11-25T09:14:00Z"
std::string format_utc(SysTime t);

}  // namespace ugate

#pragma once
// The mini CA for small meshes: a signing key and certificate in a directory,
// with Istio's plugged-in CA file names:
//   ca-key.pem (0600), ca-cert.pem, root-cert.pem, and optionally
//   cert-chain.pem (ca-cert up to the root, when ca-cert is an intermediate).
// `ugate ca init` makes a self-signed root (ca-cert.pem = root-cert.pem). The
// trust domain is the signing certificate's O, as Istio's CA writes it.
//
// Bootstrap tokens let a new node get its first certificate over the mesh
// port: each is stored in tokens/ as the SHA-256 of its text (the secret
// itself is only printed once), names the identity it grants and is consumed
// by its first use. Control plane only: failures throw AuthError.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "identity/cert.h"
#include "crypto/ossl.h"
#include "identity/spiffe.h"

namespace ugate {

inline constexpr const char* kDefaultTrustDomain = "cluster.local";

struct TokenGrant {
  std::string ns;
  std::string name;
  std::vector<std::string> dns;
  SysTime expires{};
};

class LocalCa {
 public:
  static constexpr std::chrono::hours kRootTtl{24 * 365 * 10};

  static bool exists(const std::string& dir);
  // Creates the directory (0700) and a new root; refuses when one is there.
  static LocalCa init(const std::string& dir, const std::string& trust_domain);
  static LocalCa open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const std::string& trust_domain() const { return trust_domain_; }
  const ossl::Certs& roots() const { return roots_; }
  X509* signing_cert() const { return cert_.get(); }

  // A leaf for `public_key`: the certificate followed by the intermediates
  // peers need to reach the root (none when the CA key is the root's).
  ossl::Certs issue(EVP_PKEY* public_key, const SpiffeId& id, const std::vector<std::string>& dns,
                    std::chrono::seconds ttl) const;
  // Signs a verified CSR. The SPIFFE ID is `id` when given, else the CSR's
  // own spiffe:// URI SAN, which must be in this CA's trust domain; DNS
  // names likewise (`dns` when given).
  ossl::Certs sign_csr(X509_REQ* csr, const std::optional<SpiffeId>& id,
                       const std::optional<std::vector<std::string>>& dns, std::chrono::seconds ttl) const;
  // True when `cert` was issued by this CA's signing key.
  bool issued(X509* cert) const;

  // A new one-time token; returns its text (print it, it is stored only hashed).
  std::string create_token(const TokenGrant& grant) const;
  // Consumes the token: its grant, or nullopt when unknown, used or expired.
  std::optional<TokenGrant> redeem_token(std::string_view token) const;

 private:
  LocalCa() = default;
  std::string dir_;
  std::string trust_domain_;
  ossl::PKey key_;
  ossl::Cert cert_;
  ossl::Certs chain_;  // intermediates to append to issued leaves
  ossl::Certs roots_;
};

// "" when `name` is a valid DNS name for a certificate, else what is wrong.
std::string check_dns_name(std::string_view name);

}  // namespace ugate

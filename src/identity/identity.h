#pragma once
// The node's identity: its key, certificate chain and trust roots, in the
// state dir under Istio's file names (key.pem 0600, cert-chain.pem,
// root-cert.pem) or at configured paths (an existing PKI, Istio's mounted
// certs). Created on first run; renewed before expiry by the CA it came
// from. Control plane only: failures throw AuthError.
#include <boost/asio/ip/address_v6.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "identity/cert.h"
#include "crypto/ossl.h"
#include "identity/spiffe.h"
#include "identity/identity_config.h"

namespace ugate {

// Where a node's certificates come from (identity.ca in the config).
enum class CertSource {
  kLocalCa,   // this node's own mini CA (identity.ca.dir) issues and renews them
  kRemoteCa,  // a gateway's CA over its mesh port: a bootstrap token first, then mTLS renewals
  kFiles,     // managed outside ugate: used as they are, reloaded when they change
};

struct NodeIdentity {
  ossl::PKey key;
  ossl::Certs chain;  // leaf first, then intermediates
  ossl::Certs roots;
  SpiffeId spiffe;
  std::string trust_domain;  // the config's, else the certificate's: "same trust domain" means this one
  std::string node_id;       // "" when the key is not an EC key
  boost::asio::ip::address_v6 vip6;
  SysTime not_before{}, not_after{};
  std::string chain_problem;  // why the chain does not verify against the roots, or ""
  CertSource source = CertSource::kFiles;
};

struct IdentityPaths {
  std::string cert, key;
  std::vector<std::string> roots;
  std::string ca_dir;
};
IdentityPaths identity_paths(const IdentityConfig& cfg, const std::string& state_dir);
CertSource cert_source(const IdentityConfig& cfg, const IdentityPaths& paths);

// Loads the identity as the files are now, creating it on first run; renews
// a certificate from the local CA that is expired or due.
std::shared_ptr<const NodeIdentity> load_or_create_identity(const IdentityConfig& cfg, const std::string& state_dir);

// When the certificate should be replaced: half way through its life, as
// Istio's agent does.
SysTime renewal_time(const NodeIdentity& id);

// A new certificate for the same key (so the node ID stays), from the
// identity's source, written to the files; the new identity.
std::shared_ptr<const NodeIdentity> renew_identity(const IdentityConfig& cfg, const std::string& state_dir,
                                                   const NodeIdentity& current);

// The names the node's certificates carry, from the config or else from `current`.
struct WorkloadNames {
  std::string trust_domain, ns, name;
  std::vector<std::string> dns;
};
WorkloadNames workload_names(const IdentityConfig& cfg, const NodeIdentity* current, const std::string& ca_trust_domain);

// The SPIFFE ID of a certificate, nullopt when it has none (or several).
std::optional<SpiffeId> spiffe_id_of(X509* cert);

}  // namespace ugate

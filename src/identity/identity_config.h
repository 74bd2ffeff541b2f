#pragma once
// The identity section of the config, owned by this module.
#include <string>
#include <vector>

#include "base/duration.h"
#include "base/endpoint.h"

namespace ugate {

// The node's identity (see src/identity/identity.h). Every field has a default:
// a node with no identity section gets a key and a certificate from its own
// mini CA in the state dir on first run.
struct IdentityConfig {
  std::string trust_domain;       // "" = the certificate's, else cluster.local
  std::string ns;                 // namespace; "" = the certificate's, else default
  std::string name;               // "" = the certificate's, else the host name
  std::vector<std::string> dns;   // DNS SANs of the node's certificates; default: the name
  std::string cert, key;          // an existing PKI's files; "" = the state dir's
  std::vector<std::string> roots; // trust roots (several: federation); "" = state dir's root-cert.pem
  Duration cert_ttl{86'400'000};  // lifetime of certificates this node gets; renewed at half
  enum class Ca { kAuto, kLocal, kRemote, kNone };
  Ca ca = Ca::kAuto;              // where certificates come from (see cert_source())
  std::string ca_dir;             // local: the mini CA's directory; "" = <state_dir>/ca
  HostPort ca_address;            // remote: the CA gateway's mesh port
  std::string ca_token;           // remote: one-time bootstrap token (or ca_token_file)
  std::string ca_token_file;
  std::string ca_root;            // remote: the root to verify the CA by before the first certificate
};

}  // namespace ugate

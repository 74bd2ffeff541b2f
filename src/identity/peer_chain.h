#pragma once
// Verifies a certificate chain that came outside TLS (a discovery announce)
// against the node's trust roots: the peer it names, and the key that must
// have signed whatever the chain came with. Bad input is a return value.
#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/ossl.h"
#include "base/base64.h"
#include "base/result.h"

namespace ugate {

struct VerifiedPeer {
  ossl::PKey key;  // the leaf's public key
  std::string spiffe_id;
  std::string trust_domain;
  std::string node_id;
  std::chrono::system_clock::time_point not_after{};
};

enum class ChainError : uint8_t {
  kUnparsable = 1,  // a certificate is not DER
  kUntrusted,       // does not lead to a trust root now (unknown CA, expired, ...)
  kNoSpiffeId,      // the leaf names no (single) SPIFFE ID
  kNotP256,         // the leaf's key is not EC P-256 (no node ID, no ES256)
};
std::string_view to_string(ChainError e);

class ChainVerifier {
 public:
  explicit ChainVerifier(const ossl::Certs& roots);
  // `chain`: DER certificates, leaf first.
  Result<VerifiedPeer, ChainError> verify(const std::vector<Bytes>& chain) const;

 private:
  ossl::Store store_;
};

// The DER form of a certificate (for sending it).
Bytes to_der(X509* cert);

}  // namespace ugate

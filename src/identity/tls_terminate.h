#pragma once
// What a TLS-terminating route presents (tls-sni, auto): data only; the
// SSL_CTX made from it lives in MeshIdentity.
#include <string>
#include <vector>

namespace ugate {

// A tls-sni route that terminates TLS: the certificate for its names, and
// the ALPN protocols offered to clients (none: the client falls back).
struct TlsTerminate {
  std::string cert, key;  // both "": the node's own certificate
  std::vector<std::string> alpn;
};

}  // namespace ugate

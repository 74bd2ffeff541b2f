#pragma once
// The node's identity as the data plane sees it: the current certificate
// and the TLS contexts made from it, replaced whole when it is renewed.
// Workers take the current state for each new connection (one atomic load);
// a connection keeps the context it started with, so renewal never touches
// open streams.
#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "crypto/ossl.h"
#include "identity/identity.h"
#include "identity/tls_terminate.h"

namespace ugate {

class MeshIdentity {
 public:
  struct State {
    std::shared_ptr<const NodeIdentity> id;
    ossl::SslCtx mesh_server;  // the mesh port
    ossl::SslCtx mesh_client;  // dialing mesh peers
    // tls-sni routes that terminate with the node's certificate (terminate: node)
    std::unordered_map<const TlsTerminate*, ossl::SslCtx> node_terminate;
  };
  struct Options {
    std::vector<std::string> mesh_alpn;  // the mesh port's ALPN protocols, in order
    bool ca_endpoint = false;            // the mesh port serves the CA's bootstrap endpoint
    bool registration_tokens = false;    // ALPN h2rt: reverse registration by token
    std::vector<std::shared_ptr<const TlsTerminate>> node_terminate;
  };

  // Throws AuthError when a context cannot be built.
  MeshIdentity(std::shared_ptr<const NodeIdentity> id, Options options);

  std::shared_ptr<const State> state() const { return state_.load(std::memory_order_acquire); }
  // From the control side, after a renewal; throws AuthError and keeps the old state.
  void replace(std::shared_ptr<const NodeIdentity> id);

 private:
  std::shared_ptr<const State> build(std::shared_ptr<const NodeIdentity> id) const;
  Options options_;
  std::atomic<std::shared_ptr<const State>> state_;
};

}  // namespace ugate

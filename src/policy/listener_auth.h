#pragma once
// What a listener's door needs from identity and policy: the node's identity (mesh port,
// routes that terminate with the node's certificate), the CA endpoint, and
// the contexts of routes that terminate with their own certificate. Built by
// the Gate; read-only afterwards (the identity swaps its state atomically).
#include <memory>
#include <unordered_map>

#include "policy/authz.h"

#include "identity/mesh_identity.h"
#include "crypto/ossl.h"
#include "identity/registration_token.h"
#include "policy/router.h"

namespace ugate {

class CaService;

struct ListenerAuth {
  MeshIdentity* identity = nullptr;
  CaService* ca = nullptr;  // the mesh port signs CSRs (the node runs a local CA)
  std::unordered_map<const Route*, ossl::SslCtx> terminate;  // routes with terminate: { cert, key }
  const AuthzPolicy* authz = nullptr;
  const RegistrationCheck* registration = nullptr;  // the mesh port takes h2rt registrations by token

  // The server context for a terminating route, by the route the SNI chose.
  ossl::SslCtx terminate_context(const Route& route) const {
    if (auto it = terminate.find(&route); it != terminate.end()) return it->second;
    if (!identity) return nullptr;
    auto state = identity->state();
    auto it = state->node_terminate.find(route.terminate.get());
    return it == state->node_terminate.end() ? nullptr : it->second;
  }
};

}  // namespace ugate

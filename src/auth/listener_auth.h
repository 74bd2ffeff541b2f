#pragma once
// What a listener's door needs from src/auth: the node's identity (mesh port,
// routes that terminate with the node's certificate), the CA endpoint, and
// the contexts of routes that terminate with their own certificate. Built by
// the Gate; read-only afterwards (the identity swaps its state atomically).
#include <unordered_map>

#include "auth/mesh_identity.h"
#include "auth/ossl.h"
#include "core/router.h"

namespace ugate {

class CaService;

struct ListenerAuth {
  MeshIdentity* identity = nullptr;
  CaService* ca = nullptr;  // the mesh port signs CSRs (the node runs a local CA)
  std::unordered_map<const Route*, ossl::SslCtx> terminate;  // routes with terminate: { cert, key }

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

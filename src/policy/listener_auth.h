#pragma once
// What a listener's door needs from identity and policy: the node's identity (mesh port,
// routes that terminate with the node's certificate), the CA endpoint, and
// the contexts of routes that terminate with their own certificate. Built by
// the Gate; read-only afterwards (the identity swaps its state atomically).
#include <atomic>
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
  // This listener's decisions by rule (index 0: the default) and outcome;
  // shared by the workers, written once per stream.
  std::unique_ptr<std::atomic<uint64_t>[]> decisions;

  void count(const AuthzDecision& d) const {
    decisions[2 * static_cast<size_t>(d.rule + 1) + (d.allow ? 0 : 1)].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t decided(int rule, bool allow) const {
    return decisions[2 * static_cast<size_t>(rule + 1) + (allow ? 0 : 1)].load(std::memory_order_relaxed);
  }

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

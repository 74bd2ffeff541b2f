#include "identity/mesh_identity.h"

#include "identity/tls_context.h"

namespace ugate {

MeshIdentity::MeshIdentity(std::shared_ptr<const NodeIdentity> id, Options options) : options_(std::move(options)) {
  state_.store(build(std::move(id)));
}

void MeshIdentity::replace(std::shared_ptr<const NodeIdentity> id) { state_.store(build(std::move(id))); }

std::shared_ptr<const MeshIdentity::State> MeshIdentity::build(std::shared_ptr<const NodeIdentity> id) const {
  auto s = std::make_shared<State>();
  s->mesh_server = mesh_server_context(*id, options_.mesh_alpn, options_.ca_endpoint, options_.registration_tokens);
  s->mesh_client = mesh_client_context(*id);
  for (const auto& t : options_.node_terminate) s->node_terminate[t.get()] = terminate_context(id->chain, id->key.get(), t->alpn);
  s->id = std::move(id);
  return s;
}

}  // namespace ugate

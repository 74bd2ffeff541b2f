#include "mesh/mesh_connector.h"

#include "mesh/mesh.h"
#include "mesh/reverse.h"
#include "mesh/tunnel_headers.h"

namespace ugate {

asio::awaitable<Connected> MeshConnector::connect(const ConnectRequest& request, std::unique_ptr<Stream>& up) {
  MeshTarget target = mesh_.resolve(request.destination, request.via);
  Connected out;
  if (target.kind == MeshTarget::Kind::kPath) {
    Pool::Fields fields = tunnel_headers(*request.meta);  // a named value: see "Coroutines and GCC 12"
    out.result = co_await mesh_.pool().connect(target.path, request.meta, std::move(fields), up);
  } else if (target.kind == MeshTarget::Kind::kReverse) {
    Pool::Fields fields = tunnel_headers(*request.meta);
    out.result = co_await connect_reverse(mesh_.worker(), target.reverse, request.meta, target.authority,
                                          std::move(fields), up);
  } else if (target.kind == MeshTarget::Kind::kUnavailable) {
    out.result = CloseReason::kNodeUnavailable;
  } else {
    out = co_await direct_.connect(request, up);
  }
  co_return out;
}

}  // namespace ugate

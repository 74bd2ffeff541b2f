#pragma once
// The worker's Connector: the mesh's resolver picks how a destination is
// reached (Mesh::resolve): through mesh nodes (the pool's CONNECT streams),
// down a node's reverse connection, or, for a destination that is not a mesh
// node, straight (DirectConnector). QUIC and WebRTC will be further choices.
#include "upstream/connector.h"
#include "upstream/direct_connector.h"

namespace ugate {

class Mesh;

class MeshConnector final : public Connector {
 public:
  MeshConnector(Mesh& mesh, Connector& direct) : mesh_(mesh), direct_(direct) {}
  asio::awaitable<Connected> connect(const ConnectRequest& request, std::unique_ptr<Stream>& up) override;

 private:
  Mesh& mesh_;
  Connector& direct_;
};

}  // namespace ugate

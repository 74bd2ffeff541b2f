#include "mesh/hbone_server.h"

#include "mesh/mesh.h"

namespace ugate {
namespace {

class HboneServerConnection final : public Mesh::Connection {
 public:
  HboneServerConnection(Mesh& mesh, ListenerSlot& slot, std::unique_ptr<Stream> transport, const h2::Timing& timing,
                        bool reverse, std::function<void()> on_end)
      : Connection(mesh, transport->meta().source), slot_(slot), identity_(transport->meta().peer),
        sniffed_(transport->meta().sniffed), reverse_(reverse), on_end_(std::move(on_end)) {
    Worker& w = mesh.worker();
    h2::Timing t = timing;
    t.preface_timeout = whole_seconds(slot.config->sniff_timeout);  // the client's first bytes, as on other doors
    session_ = std::make_unique<h2::H2Session>(h2::H2Session::Role::kServer, std::move(transport), w.context(),
                                               w.buffers(), mesh.send_budget(), mesh.settings(), t, *this);
  }

  void on_request(h2::H2Session&, std::unique_ptr<h2::H2Stream> stream) override {
    std::unique_ptr<h2::Message> message = stream->take_message();
    mesh_.hbone_door()(mesh_.worker(), slot_,
                       {std::move(stream), std::move(message), peer_, identity_, sniffed_, reverse_});
  }
  void on_closed(h2::H2Session& session) override {
    if (on_end_) on_end_();
    Connection::on_closed(session);  // retires this
  }

 private:
  ListenerSlot& slot_;
  std::shared_ptr<const PeerIdentity> identity_;
  std::string_view sniffed_;
  bool reverse_;  // a connection this node made to its gateway (reverse accept)
  std::function<void()> on_end_;
};

}  // namespace

void serve_hbone(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> transport) {
  Mesh& mesh = *worker.mesh();  // the gate gives every worker one
  mesh.adopt(
      std::make_unique<HboneServerConnection>(mesh, slot, std::move(transport), mesh.timing(), false, nullptr), true);
}

void serve_hbone_lasting(Worker& worker, ListenerSlot& slot, std::unique_ptr<Stream> transport,
                         std::function<void()> on_closed) {
  Mesh& mesh = *worker.mesh();
  mesh.adopt(std::make_unique<HboneServerConnection>(mesh, slot, std::move(transport), mesh.lasting_timing(), true,
                                                     std::move(on_closed)),
             false);
}

}  // namespace ugate

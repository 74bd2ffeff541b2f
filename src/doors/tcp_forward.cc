#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "session/session.h"
#include "doors/doors.h"
#include "base/owned_fd.h"
#include "mesh/hbone_server.h"
#include "mesh/mesh.h"

namespace ugate {
namespace {

asio::awaitable<void> forward_here(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from) {
  auto session =
      Session::create(worker, slot, Session::accepted_stream(worker, slot, fd, from), std::move(from.admission));
  const Route* route = slot.config->router.match("", slot.config->address.port);
  if (!route) {
    session->fail(CloseReason::kNoRoute);
    co_return;
  }
  co_await Session::forward(std::move(session), route->forward);
}

// The destination is a node whose reverse connection another worker holds:
// the accepted connection moves to that worker before it becomes a session,
// so its bytes take no cross-worker bridge (two thread wake-ups a round trip).
bool moved_to_reverse_owner(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom& from) {
  Mesh* mesh = worker.mesh();
  const Route* route = slot.config->router.match("", slot.config->address.port);
  if (!mesh || !route) return false;
  MeshTarget target = mesh->resolve(route->forward, slot.config->via);
  if (target.kind != MeshTarget::Kind::kReverse || !target.reverse.owner || target.reverse.owner == mesh) return false;
  Worker& owner = target.reverse.owner->worker();
  ListenerSlot* there = owner.index() < slot.group->slots.size() ? slot.group->slots[owner.index()] : nullptr;
  if (!there) return false;
  asio::post(owner.context(), [&owner, there, moving = OwnedFd(fd), from = std::move(from)]() mutable {
    owner.spawn(forward_here(owner, *there, moving.release(), std::move(from)));
  });
  return true;
}

}  // namespace

asio::awaitable<void> tcp_forward_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from) {
  if (moved_to_reverse_owner(worker, slot, fd, from)) co_return;
  co_await forward_here(worker, slot, fd, std::move(from));
}

void warn_once(std::atomic<bool>& said, const ListenerSlot& slot, CloseReason why, std::string_view detail) {
  if (said.exchange(true, std::memory_order_relaxed)) return;
  spdlog::warn("listener {}: refused a connection: {} (counted in ugate_listener_errors_total{{reason=\"{}\"}})",
               slot.config->name, detail, to_string(why));
}

asio::awaitable<void> serve_accepted(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from, Serve serve) {
  auto stream = Session::accepted_stream(worker, slot, fd, from);
  TcpStream& client = *stream;
  auto session = Session::create(worker, slot, std::move(stream), std::move(from.admission));
  co_await serve(worker, slot, std::move(session), client);
}


}  // namespace ugate

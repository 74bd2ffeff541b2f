#include <atomic>

#include "session/session.h"
#include "doors/doors.h"
#include "mesh/mesh.h"
#include "runtime/original_dst.h"

namespace ugate {
namespace {

const VirtualNode* virtual_node(Worker& worker, const asio::ip::address& a) {
  const VirtualAddresses* v = worker.mesh() ? worker.mesh()->shared().virtual_addresses : nullptr;
  return v ? v->by_address(a) : nullptr;
}

}  // namespace

asio::awaitable<void> capture_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from) {
  static std::atomic<bool> said_not_captured{false}, said_loop{false};
  auto session =
      Session::create(worker, slot, Session::accepted_stream(worker, slot, fd, from), std::move(from.admission));
  StreamMeta& m = session->meta();
  const ListenerConfig& c = *slot.config;
  if (error_code ec = original_destination(fd, c.tproxy, m.original_dst)) {
    warn_once(said_not_captured, slot, CloseReason::kNoOriginalDst,
              "no original destination (" + ec.message() + "): it was not redirected by iptables");
    session->fail(CloseReason::kNoOriginalDst);
    co_return;
  }
  // A direct connection to the capture port (conntrack then reports the port
  // itself), or a rule that sends ugate's own traffic back to it: forwarding
  // would connect to ourselves again and again.
  if (m.original_dst.port() == slot.bound.port() && is_local_address(m.original_dst.address())) {
    warn_once(said_loop, slot, CloseReason::kCaptureLoop,
              "its original destination " + format_endpoint(m.original_dst) +
                  " is the capture port itself (a direct connection, or ugate's own traffic captured again)");
    session->fail(CloseReason::kCaptureLoop);
    co_return;
  }
  HostPort dest{m.original_dst.address().to_string(), m.original_dst.port()};
  // A node's virtual address (what the DNS listener answered for its name): the node, through the mesh.
  if (const VirtualNode* node = virtual_node(worker, m.original_dst.address())) dest.host = node->name;
  else if (const Route* route = c.router.match(dest.host, dest.port)) dest = route->forward;
  co_await Session::forward(std::move(session), std::move(dest));
}

}  // namespace ugate

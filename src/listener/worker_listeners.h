#pragma once
// The listener slots of one worker: an accept loop per TCP listener, the
// datagram listeners, and the slots of streams that come from elsewhere
// (reverse accept). The worker starts and drains it, and ends it after its
// io_context, because unfinished stream tasks still name their slot.
#include <deque>

#include "listener/listener_slot.h"
#include "runtime/worker.h"

namespace ugate {

class WorkerListeners final : public WorkerService {
 public:
  static constexpr unsigned kAcceptBurst = 16;  // accepts in a row before other work runs

  explicit WorkerListeners(Worker& worker) : worker_(worker) {}

  // Before the worker starts; the acceptor must have been opened on its context.
  ListenerSlot& add(ListenerGroup& group, Door door, asio::ip::tcp::acceptor acceptor);
  // A Unix socket listener: `fd` (listening, non-blocking) becomes the slot's acceptor.
  ListenerSlot& add_unix(ListenerGroup& group, Door door, int fd);
  // A slot for a datagram listener, which the caller then sets (slot.datagram).
  ListenerSlot& add_datagram(ListenerGroup& group);
  // A slot for streams that do not come from a socket of ours (reverse accept): stats and auth only.
  ListenerSlot& add_virtual(ListenerGroup& group);
  const std::deque<ListenerSlot>& slots() const { return slots_; }
  uint64_t active_streams() const;

  void start() override;
  void drain() override;     // closes the acceptors, stops the datagram listeners
  void close_io() override;  // their sockets belong to the context, which goes first

 private:
  ListenerSlot& attach(ListenerSlot& slot);
  asio::awaitable<void> accept_loop(ListenerSlot& slot);

  Worker& worker_;
  std::deque<ListenerSlot> slots_;  // stable addresses
};

}  // namespace ugate

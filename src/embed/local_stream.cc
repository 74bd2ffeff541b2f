#include "embed/local_stream.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <future>
#include <memory>

#include "base/owned_fd.h"
#include "server/gate.h"
#include "session/session.h"

namespace ugate {
namespace {

// The dial's outcome, told once to the waiting program; a promise left unset
// (the worker ended first) reads as broken, which the waiter takes as a drain.
struct Answer {
  std::promise<CloseReason> promise;
  bool told = false;
  void tell(CloseReason r) {
    if (told) return;
    told = true;
    promise.set_value(r);
  }
};

asio::awaitable<void> forward_local(std::unique_ptr<Session> session, HostPort destination,
                                    std::shared_ptr<Answer> answer) {
  ForwardOptions options;
  options.reply = [answer](const DialOutcome& d) {  // the program learns it from ugate_open_stream's result
    answer->tell(d.result);
    return std::string();
  };
  co_await Session::forward(std::move(session), std::move(destination), std::move(options));
  answer->tell(CloseReason::kDrained);  // ended before its dial (aborted): not connected
}

}  // namespace

LocalStream open_local_stream(Gate& gate, size_t worker_index, HostPort destination, std::chrono::milliseconds wait) {
  LocalStream out;
  ListenerGroup* group = gate.local_streams();
  if (!group || worker_index >= group->slots.size()) {
    out.result = CloseReason::kOverload;
    out.error = "the gateway has no embed slot";
    return out;
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
    out.result = CloseReason::kOverload;
    out.error = std::string("socketpair: ") + std::strerror(errno);
    return out;
  }
  OwnedFd mine(pair[0]);
  ::fcntl(pair[0], F_SETFL, ::fcntl(pair[0], F_GETFL) & ~O_NONBLOCK);  // the program's end reads and writes blocking
  Worker& worker = gate.worker(worker_index);
  ListenerSlot* slot = group->slots[worker_index];
  auto answer = std::make_shared<Answer>();
  std::future<CloseReason> answered = answer->promise.get_future();
  asio::post(worker.context(), [&worker, slot, theirs = OwnedFd(pair[1]), destination = std::move(destination),
                                answer]() mutable {
    Result<Admission, CloseReason> admitted = slot->admit();
    AcceptedFrom from;  // no address: the program itself
    auto session = Session::create(worker, *slot, Session::accepted_stream(worker, *slot, theirs.release(), from),
                                   admitted ? std::move(*admitted) : Admission());
    if (!admitted) {
      session->fail(admitted.error());
      answer->tell(admitted.error());
      return;
    }
    worker.spawn(forward_local(std::move(session), std::move(destination), std::move(answer)));
  });
  if (answered.wait_for(wait) != std::future_status::ready) {
    out.result = CloseReason::kConnectTimeout;  // the session ends by its own deadline; our end closes now
    return out;
  }
  try {
    out.result = answered.get();
  } catch (const std::future_error&) {
    out.result = CloseReason::kDrained;  // the worker ended before it ran the stream
  }
  if (out.result == CloseReason::kDone) out.fd = mine.release();
  return out;
}

}  // namespace ugate

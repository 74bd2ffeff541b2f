#pragma once
// A stream that the embedding program opens (ugate_open_stream): one end of a
// Unix socket pair becomes the client side of a Session on the gate's `embed`
// slot, so it takes the path of any listener's stream (authorization, the
// mesh's Connector, the proxy, deadlines, access log); the other end goes to
// the program.
#include <chrono>
#include <string>

#include "base/endpoint.h"
#include "base/meta.h"

namespace ugate {

class Gate;

struct LocalStream {
  int fd = -1;                             // the program's end, blocking; -1 when refused
  CloseReason result = CloseReason::kDone;  // why not, when fd is -1
  std::string error;                       // a system call's failure, when result says nothing
};

// Blocks until the dial is over, at most `wait` (then result is kConnectTimeout).
// The gate must have started with add_local_streams(); `worker` picks its thread.
LocalStream open_local_stream(Gate& gate, size_t worker, HostPort destination, std::chrono::milliseconds wait);

}  // namespace ugate

#pragma once
// `ugate turn-probe`: holds a TURN allocation on a server (ugate's or any
// RFC 8656 one) with long-term or REST credentials, permits a peer, sends it
// a message through the relay and prints the relayed address and the reply
// (src/stun/client_socket.h's TurnSession, the API the WebRTC work uses).
#include <CLI/CLI.hpp>
#include <memory>

namespace ugate {

class TurnProbeCommand {
 public:
  explicit TurnProbeCommand(CLI::App& app);  // adds `turn-probe` to app
  bool chosen() const { return cmd_->parsed(); }
  // Exit codes: 0 ok, 1 no reply from the peer, 2 no allocation (refused, no answer, bad arguments).
  int run();

 private:
  CLI::App* cmd_;
  struct Flags;
  std::shared_ptr<Flags> flags_;
};

}  // namespace ugate

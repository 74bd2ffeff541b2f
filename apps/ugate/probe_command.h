#pragma once
// `ugate probe`: checks a node's QUIC listener as `curl --http3 -v` would
// (src/quic/probe.h), with this node's identity files or the ones given.
#include <CLI/CLI.hpp>
#include <memory>

namespace ugate {

struct Config;

class ProbeCommand {
 public:
  explicit ProbeCommand(CLI::App& app);  // adds `probe` to app
  bool chosen() const { return probe_->parsed(); }
  // Exit codes: 0 ok, 1 the CONNECT was refused, 2 no handshake (or no identity to offer).
  int run(const Config& config);

 private:
  CLI::App* probe_;
  struct Flags;
  std::shared_ptr<Flags> flags_;
};

}  // namespace ugate

#pragma once
// `ugate capture install|remove`: writes or removes the iptables rules of
// src/doors/capture_rules.h by running iptables and ip (fork/exec, argv,
// never a shell).
#include <CLI/CLI.hpp>
#include <optional>

namespace ugate {

class CaptureCommand {
 public:
  // Adds `capture` with its two subcommands to `app`.
  explicit CaptureCommand(CLI::App& app);
  bool chosen() const { return capture_->parsed(); }
  // Runs the chosen subcommand; returns the exit code.
  int run(std::optional<uint16_t> base_port);

 private:
  CLI::App* capture_;
  CLI::App* install_;
  CLI::App* remove_;
  struct Flags;
  std::shared_ptr<Flags> flags_;
};

}  // namespace ugate

#pragma once
// `ugate status`: the summary of a running node, read from its admin port
// (GET /debug/status), as text or JSON, once or redrawn (--watch).
#include <CLI/CLI.hpp>
#include <memory>

namespace ugate {

struct Config;

class StatusCommand {
 public:
  explicit StatusCommand(CLI::App& app);  // adds `status` to app
  bool chosen() const { return status_->parsed(); }
  // The admin address is --admin, else the config's. Exit codes: 0 the node
  // is ready, 1 it answered but is not ready (starting or draining), 2 it
  // could not be asked (not running, not an admin port, no address).
  int run(const Config& config);

 private:
  CLI::App* status_;
  struct Flags;
  std::shared_ptr<Flags> flags_;
};

}  // namespace ugate

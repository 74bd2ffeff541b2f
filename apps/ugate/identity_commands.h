#pragma once
// `ugate id` and `ugate ca ...`: the node's identity and the mini CA from the
// command line, and the tokens nodes of other CAs register with.
#include <CLI/CLI.hpp>
#include <functional>

#include "config/config.h"

namespace ugate::cli {

struct IdentityCommands {
  CLI::App* id = nullptr;
  CLI::App* ca = nullptr;
  bool json = false;
  std::string dir, trust_domain = "cluster.local", csr, out, name, ns = "default", ttl, issuer, node_id;
  std::vector<std::string> dns;
  CLI::App *init = nullptr, *sign = nullptr, *token = nullptr, *registration = nullptr;
};

void add_identity_commands(CLI::App& app, IdentityCommands& c);
// Runs the one that was given; the exit code.
int run_identity_command(const IdentityCommands& c, const Config& config);

}  // namespace ugate::cli

#pragma once
// `ugate push ...`: Web Push from the command line (vapid-keys, subscribe,
// listen, send), against ugate's push service or any RFC 8030 one for send.
#include <CLI/CLI.hpp>

namespace ugate {

class PushCommand {
 public:
  // Adds `push` and its subcommands to `app`.
  explicit PushCommand(CLI::App& app);
  bool selected() const { return push_->parsed(); }
  CLI::App& app() { return *push_; }  // for the node subcommands (node_push_cmd.h)
  int run();  // exit code

 private:
  int vapid_keys();
  int subscribe();
  int listen();
  int send();

  CLI::App* push_;
  CLI::App *vapid_keys_, *subscribe_, *listen_, *send_;
  std::string service_, save_ = "ugate-subscriber.json", vapid_public_, cacert_;
  std::string subscriber_ = "ugate-subscriber.json";
  unsigned count_ = 0, timeout_ = 0;
  bool json_ = false;
  std::string to_, vapid_file_, subject_, topic_, urgency_, text_;
  unsigned ttl_ = 60;
};

}  // namespace ugate

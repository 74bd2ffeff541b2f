#pragma once
// `ugate push node-listen` and `ugate push node-send`: messages between mesh
// nodes through a gateway's push service, end to end encrypted. The node
// connects with its mesh certificate (the identity in its state dir, as
// `ugate id` shows it), so its mailbox needs no secret URL; what it receives
// is encrypted to a push key it keeps in STATE_DIR/push-key.json and signs
// with its node key, which senders verify (webpush/node_keys.h). Each
// message is signed by its sender inside the encryption and each receipt by
// its receiver (node_envelope.h, node_receipt.h): the gateway's word about
// who sent what, or that it arrived, is not taken.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace ugate {

struct Config;

class NodePushCommand {
 public:
  // Adds the node subcommands to `push`.
  explicit NodePushCommand(CLI::App& push);
  bool selected() const { return listen_->parsed() || send_->parsed(); }
  int run(const Config& config);  // exit code

 private:
  int listen(const Config& config);
  int send(const Config& config);

  CLI::App *listen_, *send_;
  std::string gateway_, cacert_;
  std::vector<std::string> channels_;
  unsigned count_ = 0, timeout_ = 0;
  bool json_ = false;
  std::string to_, channel_, urgency_, topic_, text_;
  unsigned ttl_ = 60, receipt_ = 0;
};

}  // namespace ugate

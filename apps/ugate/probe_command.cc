#include "probe_command.h"

#include <iostream>

#include "base/duration.h"
#include "config/config.h"
#include "crypto/pem.h"
#include "identity/identity.h"
#include "quic/probe.h"

namespace ugate {

struct ProbeCommand::Flags {
  std::string server, connect, id, cert, key, roots, timeout = "10s";
  unsigned streams = 1;
};

ProbeCommand::ProbeCommand(CLI::App& app) : flags_(std::make_shared<Flags>()) {
  probe_ = app.add_subcommand("probe",
                              "Check a node's QUIC listener (HBONE over HTTP/3): handshake, ALPN, the peer's identity, "
                              "RTT; with --connect, a CONNECT whose tunnel carries stdin there and the answer to stdout");
  probe_->add_option("address", flags_->server, "HOST:PORT of the node's quic listener (UDP, BASE+7)")->required();
  probe_->add_option("--connect", flags_->connect, "HOST:PORT to CONNECT to through the node");
  probe_->add_option("--id", flags_->id, "The SPIFFE ID or node ID the node must prove (default: any the roots vouch for)");
  probe_->add_option("--cert", flags_->cert, "Certificate chain to present (default: this node's, from the config)");
  probe_->add_option("--key", flags_->key, "Its key (default: this node's)");
  probe_->add_option("--roots", flags_->roots, "Trust roots for the node's certificate (default: this node's)");
  probe_->add_option("--streams", flags_->streams,
                     "With --connect: this many tunnels at once on the connection, each carrying a copy of stdin; "
                     "their answers are counted and hashed (SHA-256), not printed")
      ->check(CLI::Range(1u, 10000u));
  probe_->add_option("--timeout", flags_->timeout, "For the handshake and the CONNECT's answer (default 10s)");
}

int ProbeCommand::run(const Config& config) {
  const Flags& f = *flags_;
  quic::ProbeOptions options;
  auto server = parse_host_port(f.server);
  if (!server || server->port == 0) {
    std::cerr << "ugate probe: expected HOST:PORT, got '" << f.server << "'\n";
    return quic::kProbeFailed;
  }
  options.server = *server;
  options.connect = f.connect;
  options.pin = f.id;
  options.streams = f.streams;
  auto timeout = parse_duration(f.timeout);
  if (!timeout || timeout->count() == 0) {
    std::cerr << "ugate probe: --timeout: expected a duration such as 5s, got '" << f.timeout << "'\n";
    return quic::kProbeFailed;
  }
  options.timeout = *timeout;
  IdentityPaths paths = identity_paths(config.identity, config.state_dir);
  NodeIdentity id;
  try {
    const std::string cert = f.cert.empty() ? paths.cert : f.cert, key = f.key.empty() ? paths.key : f.key;
    id.chain = parse_certs(read_file(cert), cert);
    id.key = parse_private_key(read_file(key), key);
    for (const auto& r : f.roots.empty() ? paths.roots : std::vector<std::string>{f.roots})
      for (auto& c : parse_certs(read_file(r), r)) id.roots.push_back(std::move(c));
  } catch (const AuthError& e) {
    std::cerr << "ugate probe: " << e.what() << " (give --cert, --key and --roots, or a config whose node has them)\n";
    return quic::kProbeFailed;
  }
  return quic::probe(id, options, std::cerr);
}

}  // namespace ugate

// ugate command line: run the gateway (default), check a config, show a
// running node's status, install the capture rules, print the version.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "capture_command.h"
#include "config/config.h"
#include "server/gate.h"
#include "node_push_cmd.h"
#include "push_cmd.h"
#include "identity_commands.h"
#include "probe_command.h"
#include "turn_probe_command.h"
#include "status_command.h"
#include "ugate/version.h"

namespace {

struct Options {
  std::string config_path;
  std::optional<uint16_t> base_port;
  std::optional<std::string> state_dir;
  std::optional<unsigned> workers;
  std::optional<std::string> log_level;
  std::string ports_file;
};

ugate::Config load(const Options& o) {
  ugate::ConfigOverrides ov{o.base_port, o.state_dir, o.workers, o.log_level};
  if (o.config_path.empty()) return ugate::load_config_text(ugate::kEmbeddedDefaultConfig, "<embedded default>", ov);
  return ugate::load_config_file(o.config_path, ov);
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("ugate");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

// The state dir holds keys later on: owner-only.
void ensure_state_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    spdlog::warn("state dir {}: {} (set --state-dir)", dir, ec.message());
    return;
  }
  ::chmod(dir.c_str(), 0700);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ugate: a small, fast gateway and device-mesh node.\n"
               "Without a subcommand it runs the gateway (the same as `ugate run`)."};
  app.set_version_flag("--version,-V", std::string("ugate ") + ugate::kVersion);
  app.fallthrough();
  Options o;
  app.add_option("--config,-c", o.config_path,
                 "YAML config file; without one, the embedded default config is used (admin, the mesh ports and the loopback doors; "
                 "`ugate check` prints it)")
      ->envname("UGATE_CONFIG")
      ->check(CLI::ExistingFile);
  app.add_option("--base-port", o.base_port,
                 "Base of the default ports (admin = BASE+0; config ports written :+N are BASE+N); default 15000")
      ->check(CLI::Range(1, 65535 - 53));  // the default ports go up to BASE+53 (dns)
  app.add_option("--state-dir", o.state_dir,
                 "Where keys, certificates and stored state live (default /var/lib/ugate for root, "
                 "else $XDG_STATE_HOME/ugate or ~/.local/state/ugate; env UGATE_STATE_DIR)");
  app.add_option("--workers,-w", o.workers, "Worker threads (default: one per core)")->check(CLI::Range(1, 256));
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error or off (default info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--ports-file", o.ports_file,
                 "Once ready, write the admin address and every listener's bound address here as JSON "
                 "(port 0 in the config: the kernel's choice); the same as GET /debug/listeners");

  auto* run = app.add_subcommand("run", "Run the gateway until SIGTERM/SIGINT, then drain and exit 0");
  auto* check = app.add_subcommand("check", "Validate the config and print the effective config as JSON");
  ugate::CaptureCommand capture(app);
  ugate::StatusCommand status(app);
  ugate::ProbeCommand probe(app);
  ugate::TurnProbeCommand turn_probe(app);
  ugate::PushCommand push(app);
  ugate::NodePushCommand node_push(push.app());
  ugate::cli::IdentityCommands identity;
  ugate::cli::add_identity_commands(app, identity);
  app.require_subcommand(0, 1);
  (void)run;

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (capture.chosen()) return capture.run(o.base_port);
  if (push.selected() && !node_push.selected()) return push.run();  // a client: needs no gateway config
  if (turn_probe.chosen()) return turn_probe.run();                    // a client of any TURN server

  ugate::Config config;
  try {
    config = load(o);
  } catch (const ugate::ConfigError& e) {
    std::cerr << "ugate: config error: " << e.what() << "\n";
    return 1;
  }

  if (status.chosen()) return status.run(config);  // asks a running node: needs no state dir
  if (probe.chosen()) return probe.run(config);    // reads the identity files, writes nothing

  if (*check) {
    std::cout << ugate::to_json(config).dump(2) << "\n";
    std::cerr << "ugate: config " << config.source << " is valid\n";
    return 0;
  }

  setup_logging(config.log_level);
  ensure_state_dir(config.state_dir);
  if (*identity.id || *identity.ca) return ugate::cli::run_identity_command(identity, config);
  if (node_push.selected()) return node_push.run(config);  // the node's identity, from the config
  try {
    ugate::Gate gate(std::move(config));
    if (!o.ports_file.empty()) gate.set_ports_file(o.ports_file);
    return gate.run();
  } catch (const ugate::StartError& e) {
    spdlog::error("cannot start: {}", e.what());
  } catch (const ugate::ConfigError& e) {
    spdlog::error("config error: {}", e.what());
  }
  return 1;
}

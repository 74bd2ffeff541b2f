#include "identity_commands.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "identity/ca.h"
#include "identity/jwt.h"
#include "crypto/pem.h"
#include "base/base64.h"
#include "crypto/p256.h"
#include "identity/identity.h"
#include "base/duration.h"
#include "config/config.h"
#include "stun/client_service.h"

namespace ugate::cli {
namespace {

using std::chrono::duration_cast;
using std::chrono::seconds;

std::string in_words(std::chrono::system_clock::duration d) {
  auto s = duration_cast<seconds>(d).count();
  if (s < 0) return "expired";
  if (s >= 2 * 86400) return "in " + std::to_string(s / 86400) + " days";
  if (s >= 3600) return "in " + std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m";
  return "in " + std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
}

std::string_view source_name(CertSource s) {
  switch (s) {
    case CertSource::kLocalCa: return "local CA";
    case CertSource::kRemoteCa: return "remote CA";
    case CertSource::kFiles: break;
  }
  return "files";
}

// With a stun_client section: what its servers say now, each question given at most 1.5 s
// (RTO 100 ms, Rc 4, Rm 8), so `ugate id` stays quick when a server is away.
std::optional<nlohmann::json> ask_stun_servers(const Config& config) {
  if (config.stun_client.servers.empty()) return std::nullopt;
  stun::RetransmitPolicy quick{std::chrono::milliseconds(100), 4, 8};
  std::vector<stun::ReflexiveReport> reports;
  for (const auto& server : config.stun_client.servers) reports.push_back(stun::learn_reflexive(server, quick));
  return stun::describe(reports);
}

int print_identity(const IdentityCommands& c, const Config& config) {
  auto id = load_or_create_identity(config.identity, config.state_dir);
  IdentityPaths paths = identity_paths(config.identity, config.state_dir);
  auto now = std::chrono::system_clock::now();
  if (c.json) {
    nlohmann::json j = {{"node_id", id->node_id},
                        {"spiffe_id", id->spiffe.str()},
                        {"trust_domain", id->trust_domain},
                        {"vip6", id->vip6.to_string()},
                        {"not_before", format_utc(id->not_before)},
                        {"not_after", format_utc(id->not_after)},
                        {"cert", paths.cert},
                        {"key", paths.key},
                        {"roots", paths.roots},
                        {"source", source_name(id->source)}};
    if (!id->chain_problem.empty()) j["chain_problem"] = id->chain_problem;
    if (auto stun = ask_stun_servers(config)) j["stun_client"] = std::move(*stun);
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "node_id    " << id->node_id << "\n"
            << "spiffe_id  " << id->spiffe.str() << "\n"
            << "vip6       " << id->vip6.to_string() << "\n"
            << "expires    " << format_utc(id->not_after) << " (" << in_words(id->not_after - now) << ")\n"
            << "cert       " << paths.cert << " (" << source_name(id->source) << ")\n";
  if (!id->chain_problem.empty()) std::cout << "warning    the chain does not verify: " << id->chain_problem << "\n";
  if (auto stun = ask_stun_servers(config)) {
    const auto& r = (*stun)["reflexive"];
    std::cout << "reflexive  " << (r.is_string() ? r.get<std::string>() : "unknown (no STUN server answered)") << "\n"
              << "nat        " << (*stun)["nat"].get<std::string>() << "\n";
  }
  return 0;
}

seconds ttl_or(const std::string& text, seconds fallback) {
  if (text.empty()) return fallback;
  auto d = parse_duration(text);
  if (!d || d->count() < 1000) throw AuthError("--ttl: expected a duration of 1s or more, like 24h, got '" + text + "'");
  return duration_cast<seconds>(*d);
}

// An ES256 registration token (identity/registration_token.h), signed by the
// issuer key in a JSON file {publicKey, privateKey} (`ugate push vapid-keys`).
int registration_token(const IdentityCommands& c) {
  auto issuer = nlohmann::json::parse(read_file(c.issuer), nullptr, false);
  auto raw = issuer.is_object() && issuer["privateKey"].is_string()
                 ? base64url_decode(issuer["privateKey"].get<std::string>())
                 : std::nullopt;
  auto key = raw ? crypto::p256_private_from_raw(*raw) : nullptr;
  if (!key) throw AuthError(c.issuer + ": expected {\"publicKey\", \"privateKey\"} of a P-256 key");
  auto now = std::chrono::system_clock::now();
  auto until = now + ttl_or(c.ttl, seconds(30 * 86400));
  jwt::Claims claims{"spiffe://" + c.trust_domain,
                     std::chrono::duration_cast<seconds>(until.time_since_epoch()).count(),
                     workload_spiffe_id(c.trust_domain, c.ns, c.name).str(), c.node_id};
  auto token = jwt::sign_es256(claims, key.get());
  if (!token) throw AuthError("cannot sign the token");
  std::cout << *token << "\n";
  std::cerr << "registration token for " << claims.sub << " (node " << c.node_id << "), valid until "
            << format_utc(until) << "; gateways take it with registration_tokens: { issuers: ["
            << base64url_encode(crypto::p256_public_raw(key.get())) << "] }\n";
  return 0;
}

int run_ca(const IdentityCommands& c, const Config& config) {
  if (*c.registration) return registration_token(c);
  std::string dir = c.dir.empty() ? config.state_dir + "/ca" : c.dir;
  if (*c.init) {
    LocalCa ca = LocalCa::init(dir, c.trust_domain);
    std::cout << "CA for trust domain " << ca.trust_domain() << " in " << dir << " (ca-key.pem is 0600; give nodes "
              << dir << "/root-cert.pem)\n";
    return 0;
  }
  LocalCa ca = LocalCa::open(dir);
  if (*c.sign) {
    ossl::Csr csr = parse_csr(read_file(c.csr), c.csr);
    std::optional<SpiffeId> id;
    if (!c.name.empty()) id = workload_spiffe_id(ca.trust_domain(), c.ns, c.name);
    std::optional<std::vector<std::string>> dns;
    if (!c.dns.empty()) dns = c.dns;
    auto chain = ca.sign_csr(csr.get(), id, dns, ttl_or(c.ttl, seconds(86400)));
    if (c.out.empty()) std::cout << to_pem(chain);
    else write_file_atomic(c.out, to_pem(chain), 0644);
    std::cerr << "signed " << inspect(chain[0].get()).spiffe->str() << ", valid until "
              << format_utc(inspect(chain[0].get()).not_after) << "\n";
    return 0;
  }
  if (*c.token) {
    TokenGrant g{c.ns, c.name, c.dns, std::chrono::system_clock::now() + ttl_or(c.ttl, seconds(3600))};
    std::cout << ca.create_token(g) << "\n";
    std::cerr << "one-time token for " << workload_spiffe_id(ca.trust_domain(), g.ns, g.name).str() << ", valid until "
              << format_utc(g.expires) << "\n";
    return 0;
  }
  return 1;
}

}  // namespace

void add_identity_commands(CLI::App& app, IdentityCommands& c) {
  c.id = app.add_subcommand("id", "Print this node's ID, SPIFFE ID, VIP6 and certificate expiry (creating them on first run)");
  c.id->add_flag("--json", c.json, "As JSON");
  c.ca = app.add_subcommand("ca", "The mini CA for small meshes");
  c.ca->require_subcommand(1);
  const char* dir_help = "The CA's directory (default: <state dir>/ca)";
  c.init = c.ca->add_subcommand("init", "Create a mesh root: ca-key.pem (0600), ca-cert.pem, root-cert.pem");
  c.init->add_option("--dir", c.dir, dir_help);
  c.init->add_option("--trust-domain", c.trust_domain, "Trust domain of the mesh (default cluster.local)");
  c.sign = c.ca->add_subcommand("sign", "Sign a PEM CSR; prints the certificate chain");
  c.sign->add_option("--dir", c.dir, dir_help);
  c.sign->add_option("--csr", c.csr, "The request (PEM, as from openssl req -new)")->required()->check(CLI::ExistingFile);
  c.sign->add_option("--ttl", c.ttl, "Lifetime (default 24h)");
  c.sign->add_option("--out", c.out, "Write the chain here instead of stdout");
  c.sign->add_option("--name", c.name, "Issue spiffe://<td>/ns/<namespace>/sa/<name> instead of the CSR's SPIFFE ID");
  c.sign->add_option("--namespace", c.ns, "With --name (default: default)");
  c.sign->add_option("--dns", c.dns, "DNS names instead of the CSR's");
  c.token = c.ca->add_subcommand("token", "Create a one-time bootstrap token for a new node; prints it");
  c.token->add_option("--dir", c.dir, dir_help);
  c.token->add_option("--name", c.name, "The node's name (its SPIFFE ID's sa)")->required();
  c.token->add_option("--namespace", c.ns, "Its namespace (default: default)");
  c.token->add_option("--dns", c.dns, "DNS names for its certificate (default: the name)");
  c.token->add_option("--ttl", c.ttl, "How long the token may be used (default 1h)");
  c.registration = c.ca->add_subcommand(
      "registration-token",
      "Sign an ES256 token with which a node whose certificate another CA issued registers for reverse accept");
  c.registration->add_option("--issuer", c.issuer, "Issuer key file {publicKey, privateKey} (ugate push vapid-keys)")
      ->required()
      ->check(CLI::ExistingFile);
  c.registration->add_option("--name", c.name, "The node's name (its SPIFFE ID's sa)")->required();
  c.registration->add_option("--namespace", c.ns, "Its namespace (default: default)");
  c.registration->add_option("--node-id", c.node_id, "The node's ID (ugate id): the token is good only with its key")
      ->required();
  c.registration->add_option("--trust-domain", c.trust_domain, "The gateways' trust domain (default cluster.local)");
  c.registration->add_option("--ttl", c.ttl, "How long the token is valid (default 720h)");
}

int run_identity_command(const IdentityCommands& c, const Config& config) {
  try {
    return *c.id ? print_identity(c, config) : run_ca(c, config);
  } catch (const AuthError& e) {
    std::cerr << "ugate: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace ugate::cli

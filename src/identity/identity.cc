#include "identity/identity.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <openssl/x509v3.h>

#include "identity/ca.h"
#include "identity/ca_client.h"
#include "identity/node_id.h"

namespace ugate {
namespace {

using std::chrono::duration_cast;
using std::chrono::seconds;

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  std::string out;
  for (char c : std::string(buf)) {
    unsigned char u = static_cast<unsigned char>(c);
    out += std::isalnum(u) || c == '-' || c == '.' ? static_cast<char>(std::tolower(u)) : '-';
  }
  return out.empty() ? "node" : out;
}

void ensure_private_dir(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) return;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw AuthError(dir + ": cannot create: " + ec.message());
  ::chmod(dir.c_str(), 0700);
}

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool mode_is_private(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) == 0;
}

// Does `chain` lead to one of `roots` now? "" or the reason it does not.
std::string verify_chain(const ossl::Certs& chain, const ossl::Certs& roots) {
  ossl::Store store(X509_STORE_new());
  for (const auto& r : roots) X509_STORE_add_cert(store.get(), r.get());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store.get(), chain[0].get(), untrusted);
  std::string problem;
  if (X509_verify_cert(ctx) != 1) problem = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);
  return problem;
}

std::shared_ptr<const NodeIdentity> load_files(const IdentityConfig& cfg, const IdentityPaths& paths,
                                               CertSource source) {
  auto id = std::make_shared<NodeIdentity>();
  id->source = source;
  id->key = parse_private_key(read_file(paths.key), paths.key);
  id->chain = parse_certs(read_file(paths.cert), paths.cert);
  for (const auto& p : paths.roots) {
    for (auto& c : parse_certs(read_file(p), p)) id->roots.push_back(std::move(c));
  }
  if (X509_check_private_key(id->chain[0].get(), id->key.get()) != 1) {
    ossl::last_error();
    throw AuthError(paths.key + ": does not match the certificate in " + paths.cert);
  }
  CertInfo info = inspect(id->chain[0].get());
  if (!info.spiffe)
    throw AuthError(paths.cert + ": the certificate has no SPIFFE ID (one URI SAN spiffe://<trust-domain>/...)");
  id->spiffe = *info.spiffe;
  id->trust_domain = cfg.trust_domain.empty() ? info.spiffe->trust_domain : cfg.trust_domain;
  id->node_id = node_id_of(id->key.get());
  id->vip6 = vip6_of(id->key.get());
  id->not_before = info.not_before;
  id->not_after = info.not_after;
  id->chain_problem = verify_chain(id->chain, id->roots);
  if (!mode_is_private(paths.key))
    spdlog::warn("identity: {} is readable by others (chmod 600 it)", paths.key);
  return id;
}

void write_issued(const IdentityPaths& paths, const IdentityConfig& cfg, const ossl::Certs& chain,
                  const ossl::Certs& roots) {
  write_file_atomic(paths.cert, to_pem(chain), 0644);
  // The roots file is ours to write only where it is the default one.
  if (cfg.roots.empty()) write_file_atomic(paths.roots.front(), to_pem(roots), 0644);
}

}  // namespace

IdentityPaths identity_paths(const IdentityConfig& cfg, const std::string& state_dir) {
  IdentityPaths p;
  p.cert = cfg.cert.empty() ? state_dir + "/cert-chain.pem" : cfg.cert;
  p.key = cfg.key.empty() ? state_dir + "/key.pem" : cfg.key;
  p.roots = cfg.roots.empty() ? std::vector<std::string>{state_dir + "/root-cert.pem"} : cfg.roots;
  p.ca_dir = cfg.ca_dir.empty() ? state_dir + "/ca" : cfg.ca_dir;
  return p;
}

CertSource cert_source(const IdentityConfig& cfg, const IdentityPaths& paths) {
  switch (cfg.ca) {
    case IdentityConfig::Ca::kLocal: return CertSource::kLocalCa;
    case IdentityConfig::Ca::kRemote: return CertSource::kRemoteCa;
    case IdentityConfig::Ca::kNone: return CertSource::kFiles;
    case IdentityConfig::Ca::kAuto: break;
  }
  // Files configured, or found without a local CA beside them: someone else manages them.
  if (!cfg.cert.empty() || !cfg.key.empty()) return CertSource::kFiles;
  if (file_exists(paths.cert) && !LocalCa::exists(paths.ca_dir)) return CertSource::kFiles;
  return CertSource::kLocalCa;
}

WorkloadNames workload_names(const IdentityConfig& cfg, const NodeIdentity* current,
                             const std::string& ca_trust_domain) {
  WorkloadNames n;
  n.trust_domain = !cfg.trust_domain.empty() ? cfg.trust_domain
                   : current                 ? current->spiffe.trust_domain
                   : !ca_trust_domain.empty() ? ca_trust_domain
                                              : kDefaultTrustDomain;
  n.ns = !cfg.ns.empty() ? cfg.ns : current && !current->spiffe.ns().empty() ? current->spiffe.ns() : "default";
  n.name = !cfg.name.empty() ? cfg.name : current && !current->spiffe.name().empty() ? current->spiffe.name() : host_name();
  n.dns = !cfg.dns.empty() ? cfg.dns : std::vector<std::string>{n.name};
  return n;
}

std::optional<SpiffeId> spiffe_id_of(X509* cert) {
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  std::optional<SpiffeId> found;
  int count = 0;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type != GEN_URI) continue;
    std::string_view uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier)),
                         ASN1_STRING_length(g->d.uniformResourceIdentifier));
    if (uri.size() < 9 || strncasecmp(uri.data(), "spiffe://", 9) != 0) continue;
    ++count;
    found = parse_spiffe_id(uri);
  }
  GENERAL_NAMES_free(names);
  return count == 1 ? found : std::nullopt;
}

SysTime renewal_time(const NodeIdentity& id) { return id.not_before + (id.not_after - id.not_before) / 2; }

std::shared_ptr<const NodeIdentity> load_or_create_identity(const IdentityConfig& cfg, const std::string& state_dir) {
  IdentityPaths paths = identity_paths(cfg, state_dir);
  CertSource source = cert_source(cfg, paths);
  bool have = file_exists(paths.cert) && file_exists(paths.key);
  if (!have && source == CertSource::kFiles)
    throw AuthError(paths.cert + " and " + paths.key +
                    ": not found (identity.ca is none: the certificates come from outside ugate)");
  if (!have) {
    ensure_private_dir(dir_of(paths.key));
    ensure_private_dir(dir_of(paths.cert));
    // A key that exists without its certificate is kept: the node ID stays.
    ossl::PKey key = file_exists(paths.key) ? parse_private_key(read_file(paths.key), paths.key) : generate_p256_key();
    if (!file_exists(paths.key)) write_file_atomic(paths.key, private_key_pem(key.get()), 0600);
    if (source == CertSource::kLocalCa) {
      std::string td = cfg.trust_domain.empty() ? kDefaultTrustDomain : cfg.trust_domain;
      LocalCa ca = LocalCa::exists(paths.ca_dir) ? LocalCa::open(paths.ca_dir) : LocalCa::init(paths.ca_dir, td);
      WorkloadNames n = workload_names(cfg, nullptr, ca.trust_domain());
      auto chain = ca.issue(key.get(), workload_spiffe_id(n.trust_domain, n.ns, n.name), n.dns,
                            duration_cast<seconds>(cfg.cert_ttl));
      write_issued(paths, cfg, chain, ca.roots());
      spdlog::info("identity: new key and certificate in {} (local CA {})", dir_of(paths.cert), paths.ca_dir);
    } else {
      WorkloadNames n = workload_names(cfg, nullptr, "");
      CaReply reply = request_certificate(cfg, key.get(), nullptr, n);
      write_issued(paths, cfg, reply.chain, reply.roots);
      spdlog::info("identity: certificate from the CA at {}", cfg.ca_address.str());
    }
  }
  auto id = load_files(cfg, paths, source);
  if (source == CertSource::kLocalCa && std::chrono::system_clock::now() >= renewal_time(*id))
    return renew_identity(cfg, state_dir, *id);
  return id;
}

std::shared_ptr<const NodeIdentity> renew_identity(const IdentityConfig& cfg, const std::string& state_dir,
                                                   const NodeIdentity& current) {
  IdentityPaths paths = identity_paths(cfg, state_dir);
  switch (current.source) {
    case CertSource::kLocalCa: {
      LocalCa ca = LocalCa::open(paths.ca_dir);
      WorkloadNames n = workload_names(cfg, &current, ca.trust_domain());
      auto chain = ca.issue(current.key.get(), workload_spiffe_id(n.trust_domain, n.ns, n.name), n.dns,
                            duration_cast<seconds>(cfg.cert_ttl));
      write_issued(paths, cfg, chain, ca.roots());
      break;
    }
    case CertSource::kRemoteCa: {
      CaReply reply = request_certificate(cfg, current.key.get(), &current, workload_names(cfg, &current, ""));
      write_issued(paths, cfg, reply.chain, reply.roots);
      break;
    }
    case CertSource::kFiles: break;  // someone else renews them: read what is there now
  }
  return load_files(cfg, paths, current.source);
}

}  // namespace ugate

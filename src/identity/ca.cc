#include "identity/ca.h"

#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "identity/node_id.h"
#include "crypto/p256.h"

namespace ugate {
namespace {

constexpr size_t kTokenBytes = 20;  // 160 bits, 32 base32 characters

std::string path_in(const std::string& dir, const char* file) { return dir + "/" + file; }

void make_private_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw AuthError(dir + ": cannot create: " + ec.message());
  ::chmod(dir.c_str(), 0700);
}

bool self_signed(X509* c) { return X509_check_issued(c, c) == X509_V_OK; }

std::string hex(const unsigned char* p, size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) out += digits[p[i] >> 4], out += digits[p[i] & 15];
  return out;
}

std::string token_path(const std::string& dir, std::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  return dir + "/tokens/" + hex(digest, sizeof digest) + ".json";
}

}  // namespace

std::string check_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return "DNS name must have 1 to 253 characters";
  std::string_view rest = name.starts_with("*.") ? name.substr(2) : name;
  for (char c : rest) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'))
      return "invalid character '" + std::string(1, c) + "' in DNS name '" + std::string(name) + "'";
  }
  return rest.empty() ? "DNS name needs a suffix after '*.'" : "";
}

bool LocalCa::exists(const std::string& dir) {
  return file_exists(path_in(dir, "ca-key.pem")) && file_exists(path_in(dir, "ca-cert.pem"));
}

LocalCa LocalCa::init(const std::string& dir, const std::string& trust_domain) {
  if (auto err = check_trust_domain(trust_domain); !err.empty()) throw AuthError("trust domain: " + err);
  if (exists(dir)) throw AuthError(dir + ": already holds a CA (ca-key.pem, ca-cert.pem)");
  make_private_dir(dir);
  auto key = generate_p256_key();
  IssueParams p;
  p.public_key = key.get();
  p.organization = trust_domain;
  p.common_name = "ugate mesh root";
  p.ttl = kRootTtl;
  p.is_ca = true;
  auto root = issue_certificate(p, nullptr, key.get());
  write_file_atomic(path_in(dir, "ca-key.pem"), private_key_pem(key.get()), 0600);
  write_file_atomic(path_in(dir, "ca-cert.pem"), to_pem(root.get()), 0644);
  write_file_atomic(path_in(dir, "root-cert.pem"), to_pem(root.get()), 0644);
  return open(dir);
}

LocalCa LocalCa::open(const std::string& dir) {
  LocalCa ca;
  ca.dir_ = dir;
  std::string key_path = path_in(dir, "ca-key.pem"), cert_path = path_in(dir, "ca-cert.pem");
  ca.key_ = parse_private_key(read_file(key_path), key_path);
  ca.cert_ = std::move(parse_certs(read_file(cert_path), cert_path).front());
  if (X509_check_private_key(ca.cert_.get(), ca.key_.get()) != 1)
    throw AuthError(key_path + ": does not match " + cert_path);
  CertInfo info = inspect(ca.cert_.get());
  if (!info.is_ca) throw AuthError(cert_path + ": not a CA certificate (basicConstraints CA:FALSE)");
  ca.trust_domain_ = info.organization.empty() ? kDefaultTrustDomain : info.organization;
  std::string roots_path = path_in(dir, "root-cert.pem");
  if (file_exists(roots_path)) ca.roots_ = parse_certs(read_file(roots_path), roots_path);
  else if (self_signed(ca.cert_.get())) ca.roots_.push_back(ossl::up_ref(ca.cert_.get()));
  else throw AuthError(roots_path + ": missing (needed when ca-cert.pem is an intermediate)");
  if (!self_signed(ca.cert_.get())) {
    std::string chain_path = path_in(dir, "cert-chain.pem");
    ossl::Certs chain = file_exists(chain_path) ? parse_certs(read_file(chain_path), chain_path) : ossl::Certs{};
    if (chain.empty()) chain.push_back(ossl::up_ref(ca.cert_.get()));
    for (auto& c : chain) {
      if (!self_signed(c.get())) ca.chain_.push_back(std::move(c));
    }
  }
  return ca;
}

bool LocalCa::issued(X509* cert) const { return X509_check_issued(cert_.get(), cert) == X509_V_OK; }

ossl::Certs LocalCa::issue(EVP_PKEY* public_key, const SpiffeId& id, const std::vector<std::string>& dns,
                           std::chrono::seconds ttl) const {
  if (id.trust_domain != trust_domain_)
    throw AuthError("SPIFFE ID " + id.str() + " is outside this CA's trust domain " + trust_domain_);
  for (const auto& d : dns) {
    if (auto err = check_dns_name(d); !err.empty()) throw AuthError(err);
  }
  IssueParams p;
  p.public_key = public_key;
  p.common_name = id.name().empty() ? id.str() : id.name();
  p.organization = trust_domain_;
  p.spiffe_id = id.str();
  p.dns = dns;
  p.ttl = ttl;
  ossl::Certs out;
  out.push_back(issue_certificate(p, cert_.get(), key_.get()));
  for (const auto& c : chain_) out.push_back(ossl::up_ref(c.get()));
  return out;
}

ossl::Certs LocalCa::sign_csr(X509_REQ* csr, const std::optional<SpiffeId>& id,
                              const std::optional<std::vector<std::string>>& dns, std::chrono::seconds ttl) const {
  CsrInfo info = inspect_verified_csr(csr);
  std::optional<SpiffeId> subject = id;
  if (!subject) {
    for (const auto& u : info.uris) {
      if (auto parsed = parse_spiffe_id(u)) {
        if (subject) throw AuthError("certificate request: more than one spiffe:// URI SAN");
        subject = parsed;
      }
    }
  }
  if (!subject) throw AuthError("certificate request: no spiffe:// URI SAN (give the name and namespace)");
  EVP_PKEY* key = X509_REQ_get0_pubkey(csr);
  bool strong = EVP_PKEY_is_a(key, "EC") ? EVP_PKEY_get_bits(key) >= 256 : EVP_PKEY_get_bits(key) >= 2048;
  if (!strong) throw AuthError("certificate request: key too weak (EC P-256 or RSA 2048 at least)");
  return issue(key, *subject, dns ? *dns : info.dns, ttl);
}

std::string LocalCa::create_token(const TokenGrant& grant) const {
  if (auto err = check_path_segment(grant.name); !err.empty()) throw AuthError("token name: " + err);
  if (auto err = check_path_segment(grant.ns); !err.empty()) throw AuthError("token namespace: " + err);
  std::array<uint8_t, kTokenBytes> secret;
  if (!crypto::random_bytes(secret)) throw AuthError("token: " + ossl::last_error());
  std::string token = base32_lower(secret);
  make_private_dir(dir_ + "/tokens");
  nlohmann::json j = {{"namespace", grant.ns},
                      {"name", grant.name},
                      {"dns", grant.dns},
                      {"expires", std::chrono::system_clock::to_time_t(grant.expires)}};
  write_file_atomic(token_path(dir_, token), j.dump() + "\n", 0600);
  return token;
}

std::optional<TokenGrant> LocalCa::redeem_token(std::string_view token) const {
  if (token.size() != 32 || token.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567") != std::string_view::npos)
    return std::nullopt;
  // Claim by rename: of two concurrent uses only one rename succeeds.
  static std::atomic<unsigned> claims{0};
  std::string path = token_path(dir_, token);
  std::string claimed = path + ".claimed." + std::to_string(::getpid()) + "." + std::to_string(++claims);
  if (::rename(path.c_str(), claimed.c_str()) != 0) return std::nullopt;
  std::optional<TokenGrant> grant;
  try {
    auto j = nlohmann::json::parse(read_file(claimed));
    TokenGrant g;
    g.ns = j.at("namespace").get<std::string>();
    g.name = j.at("name").get<std::string>();
    g.dns = j.at("dns").get<std::vector<std::string>>();
    g.expires = std::chrono::system_clock::from_time_t(j.at("expires").get<std::time_t>());
    if (g.expires > std::chrono::system_clock::now()) grant = std::move(g);
  } catch (const std::exception&) {
    // a damaged token file grants nothing
  }
  ::unlink(claimed.c_str());
  return grant;
}

}  // namespace ugate

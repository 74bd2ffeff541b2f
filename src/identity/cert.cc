#include "identity/cert.h"

#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace ugate {
namespace {

struct NamesFree {
  void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};
using Names = std::unique_ptr<GENERAL_NAMES, NamesFree>;

[[noreturn]] void fail(const std::string& what) { throw AuthError(what + ": " + ossl::last_error()); }

Names make_names(const std::string& uri, const std::vector<std::string>& dns) {
  Names names(sk_GENERAL_NAME_new_null());
  auto push = [&](int type, const std::string& value) {
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    GENERAL_NAME* g = GENERAL_NAME_new();
    if (!s || !g || !ASN1_STRING_set(s, value.data(), static_cast<int>(value.size()))) fail("subjectAltName");
    GENERAL_NAME_set0_value(g, type, s);
    sk_GENERAL_NAME_push(names.get(), g);
  };
  if (!uri.empty()) push(GEN_URI, uri);
  for (const auto& d : dns) push(GEN_DNS, d);
  return names;
}

void read_names(GENERAL_NAMES* names, std::vector<std::string>& uris, std::vector<std::string>& dns) {
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type != GEN_URI && g->type != GEN_DNS) continue;
    const ASN1_IA5STRING* s = g->type == GEN_URI ? g->d.uniformResourceIdentifier : g->d.dNSName;
    std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
    (g->type == GEN_URI ? uris : dns).push_back(std::move(value));
  }
}

void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  bool ok = ext && X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (!ok) fail(std::string("certificate extension ") + OBJ_nid2sn(nid));
}

void add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
  if (value.empty()) return;
  if (!X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value.data()),
                                  static_cast<int>(value.size()), -1, 0))
    fail(std::string("subject ") + field);
}

void set_random_serial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) fail("serial number");
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);  // positive, always 16 bytes
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  if (!ok) fail("serial number");
}

SysTime to_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || !ASN1_TIME_to_tm(t, &tm)) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string name_entry(X509_NAME* name, int nid) {
  int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) return "";
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
}

}  // namespace

ossl::PKey generate_p256_key() {
  ossl::PKey key = crypto::p256_generate();
  if (!key) fail("cannot generate a P-256 key");
  return key;
}

ossl::Cert issue_certificate(const IssueParams& p, X509* issuer, EVP_PKEY* issuer_key) {
  ossl::Cert cert(X509_new());
  if (!cert || !X509_set_version(cert.get(), X509_VERSION_3)) fail("new certificate");
  set_random_serial(cert.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  add_name_entry(subject, "O", p.organization);
  add_name_entry(subject, "CN", p.common_name);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject);

  std::time_t now = std::time(nullptr);
  std::time_t start = now - std::min<std::time_t>(std::chrono::duration_cast<std::chrono::seconds>(kBackdate).count(),
                                                  p.ttl.count() / 10);
  std::time_t end = now + p.ttl.count();
  if (issuer) end = std::min(end, std::chrono::system_clock::to_time_t(to_time(X509_get0_notAfter(issuer))));
  if (!ASN1_TIME_set(X509_getm_notBefore(cert.get()), start) || !ASN1_TIME_set(X509_getm_notAfter(cert.get()), end))
    fail("validity");
  if (!X509_set_pubkey(cert.get(), p.public_key)) fail("public key");

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  if (p.is_ca) {
    add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
    add_ext(cert.get(), &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  add_ext(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  if (!p.spiffe_id.empty() || !p.dns.empty()) {
    Names names = make_names(p.spiffe_id, p.dns);
    if (!X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT))
      fail("subjectAltName");
  }
  if (!X509_sign(cert.get(), issuer_key, EVP_sha256())) fail("signing the certificate");
  return cert;
}

ossl::Csr make_csr(EVP_PKEY* key, const std::string& common_name, const std::string& spiffe_id,
                   const std::vector<std::string>& dns) {
  ossl::Csr csr(X509_REQ_new());
  if (!csr || !X509_REQ_set_version(csr.get(), X509_REQ_VERSION_1)) fail("new certificate request");
  add_name_entry(X509_REQ_get_subject_name(csr.get()), "CN", common_name);
  if (!X509_REQ_set_pubkey(csr.get(), key)) fail("certificate request key");
  Names names = make_names(spiffe_id, dns);
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  X509_EXTENSION* san = X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get());
  bool ok = exts && san && sk_X509_EXTENSION_push(exts, san) && X509_REQ_add_extensions(csr.get(), exts);
  if (!ok) X509_EXTENSION_free(san);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  if (!ok) fail("certificate request names");
  if (!X509_REQ_sign(csr.get(), key, EVP_sha256())) fail("signing the certificate request");
  return csr;
}

CertInfo inspect(X509* cert) {
  CertInfo info;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  read_names(names, info.uris, info.dns);
  GENERAL_NAMES_free(names);
  const std::string* spiffe = nullptr;
  int spiffe_uris = 0;
  for (const auto& u : info.uris) {
    if (u.size() >= 9 && strncasecmp(u.c_str(), "spiffe://", 9) == 0) ++spiffe_uris, spiffe = &u;
  }
  if (spiffe_uris == 1) info.spiffe = parse_spiffe_id(*spiffe);
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  info.subject.assign(data, static_cast<size_t>(n));
  info.organization = name_entry(X509_get_subject_name(cert), NID_organizationName);
  info.not_before = to_time(X509_get0_notBefore(cert));
  info.not_after = to_time(X509_get0_notAfter(cert));
  info.is_ca = (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
  return info;
}

CsrInfo inspect_verified_csr(X509_REQ* csr) {
  EVP_PKEY* key = X509_REQ_get0_pubkey(csr);
  if (!key || X509_REQ_verify(csr, key) != 1) throw AuthError("certificate request: bad signature");
  CsrInfo info;
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(csr);
  auto* names = static_cast<GENERAL_NAMES*>(X509V3_get_d2i(exts, NID_subject_alt_name, nullptr, nullptr));
  read_names(names, info.uris, info.dns);
  GENERAL_NAMES_free(names);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  info.common_name = name_entry(X509_REQ_get_subject_name(csr), NID_commonName);
  return info;
}

std::string format_utc(SysTime t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace ugate

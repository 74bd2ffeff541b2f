// Node identity: base32 node IDs, SPIFFE IDs, certificates as a real CA makes
// them, the mini CA and its one-time tokens, the state-dir files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "identity/ca.h"
#include "identity/ca_request.h"
#include "identity/ca_service.h"
#include "identity/identity.h"
#include "identity/node_id.h"
#include "identity/spiffe.h"
#include "base/base64.h"
#include "temp_dir.h"

namespace ugate {
namespace {

using ::testing::HasSubstr;

std::string temp_dir() { return test::temp_dir("id"); }

unsigned file_mode(const std::string& path) {
  struct stat st{};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST(NodeId, Base32IsRfc4648LowerCaseWithoutPadding) {
  // RFC 4648 section 10, lower-cased, padding dropped.
  EXPECT_EQ(base32_lower(as_bytes("")), "");
  EXPECT_EQ(base32_lower(as_bytes("f")), "my");
  EXPECT_EQ(base32_lower(as_bytes("fo")), "mzxq");
  EXPECT_EQ(base32_lower(as_bytes("foo")), "mzxw6");
  EXPECT_EQ(base32_lower(as_bytes("foob")), "mzxw6yq");
  EXPECT_EQ(base32_lower(as_bytes("fooba")), "mzxw6ytb");
  EXPECT_EQ(base32_lower(as_bytes("foobar")), "mzxw6ytboi");
}

TEST(NodeId, IsTheHashOfTheUncompressedKeyAndVip6ItsTail) {
  auto key = generate_p256_key();
  Bytes pub = crypto::p256_public_raw(key.get());
  ASSERT_EQ(pub.size(), 65u);
  std::string id = node_id_of(key.get());
  EXPECT_EQ(id.size(), 52u);
  EXPECT_EQ(id.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567"), std::string::npos);
  unsigned char digest[32];
  SHA256(pub.data(), pub.size(), digest);
  EXPECT_EQ(id, base32_lower(std::span<const uint8_t>(digest, 32)));
  auto vip = vip6_of(key.get()).to_bytes();
  EXPECT_EQ(vip[0], 0xfd);
  for (int i = 1; i < 8; ++i) EXPECT_EQ(vip[i], 0);
  EXPECT_TRUE(std::equal(vip.begin() + 8, vip.end(), pub.end() - 8));
}

TEST(Spiffe, ParsesTheWorkloadForm) {
  auto id = parse_spiffe_id("spiffe://cluster.local/ns/prod/sa/web");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->trust_domain, "cluster.local");
  EXPECT_EQ(id->ns(), "prod");
  EXPECT_EQ(id->name(), "web");
  EXPECT_EQ(id->str(), "spiffe://cluster.local/ns/prod/sa/web");
  EXPECT_TRUE(parse_spiffe_id("spiffe://example.org"));
  EXPECT_EQ(parse_spiffe_id("spiffe://example.org/a/b")->name(), "");
}

TEST(Spiffe, RefusesWhatTheSpecForbids) {
  for (const char* bad : {"spiffe://", "http://a/b", "spiffe://UPPER/x", "spiffe://a/b//c", "spiffe://a/b/./c",
                          "spiffe://a/b/../c", "spiffe://a/b/", "spiffe://a:80/b", "spiffe://a/b?q", "spiffe://a/b c"})
    EXPECT_FALSE(parse_spiffe_id(bad)) << bad;
}

TEST(Cert, LeafCarriesWhatARealCaSets) {
  std::string dir = temp_dir() + "/ca";
  LocalCa ca = LocalCa::init(dir, "mesh.test");
  auto key = generate_p256_key();
  auto chain = ca.issue(key.get(), workload_spiffe_id("mesh.test", "prod", "web"), {"web.example"}, std::chrono::hours(2));
  ASSERT_EQ(chain.size(), 1u);  // the CA key is the root's: nothing to append
  X509* leaf = chain[0].get();
  CertInfo info = inspect(leaf);
  ASSERT_TRUE(info.spiffe);
  EXPECT_EQ(info.spiffe->str(), "spiffe://mesh.test/ns/prod/sa/web");
  EXPECT_THAT(info.dns, ::testing::ElementsAre("web.example"));
  EXPECT_FALSE(info.is_ca);
  EXPECT_EQ(X509_get_key_usage(leaf), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(leaf), static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  auto life = info.not_after - info.not_before;
  EXPECT_GE(life, std::chrono::hours(2));
  EXPECT_LE(life, std::chrono::hours(2) + kBackdate);
  EXPECT_TRUE(ca.issued(leaf));
  // The root: a CA that signs certificates and CRLs, valid for years.
  X509* root = ca.roots()[0].get();
  EXPECT_TRUE(inspect(root).is_ca);
  EXPECT_EQ(X509_get_key_usage(root), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_EQ(inspect(root).organization, "mesh.test");
  EXPECT_EQ(file_mode(dir + "/ca-key.pem"), 0600u);
  EXPECT_EQ(file_mode(dir), 0700u);
}

TEST(Ca, SignsCsrsOnlyInItsTrustDomain) {
  std::string dir = temp_dir() + "/ca";
  LocalCa ca = LocalCa::init(dir, "mesh.test");
  EXPECT_THROW(LocalCa::init(dir, "mesh.test"), AuthError);  // never over an existing CA
  auto key = generate_p256_key();
  auto ours = make_csr(key.get(), "n1", "spiffe://mesh.test/ns/default/sa/n1", {"n1"});
  auto chain = LocalCa::open(dir).sign_csr(ours.get(), std::nullopt, std::nullopt, std::chrono::hours(1));
  EXPECT_EQ(inspect(chain[0].get()).spiffe->str(), "spiffe://mesh.test/ns/default/sa/n1");
  EXPECT_EQ(X509_check_private_key(chain[0].get(), key.get()), 1);
  auto theirs = make_csr(key.get(), "n1", "spiffe://other.test/ns/default/sa/n1", {});
  EXPECT_THROW(ca.sign_csr(theirs.get(), std::nullopt, std::nullopt, std::chrono::hours(1)), AuthError);
  auto nameless = make_csr(key.get(), "n1", "", {"n1"});
  EXPECT_THROW(ca.sign_csr(nameless.get(), std::nullopt, std::nullopt, std::chrono::hours(1)), AuthError);
  auto named = ca.sign_csr(nameless.get(), workload_spiffe_id("mesh.test", "ops", "n9"), std::nullopt, std::chrono::hours(1));
  EXPECT_EQ(inspect(named[0].get()).spiffe->str(), "spiffe://mesh.test/ns/ops/sa/n9");
}

TEST(Ca, TokensAreOneTimeAndStoredHashed) {
  std::string dir = temp_dir() + "/ca";
  LocalCa ca = LocalCa::init(dir, "mesh.test");
  auto soon = std::chrono::system_clock::now() + std::chrono::minutes(5);
  std::string token = ca.create_token({"default", "n1", {}, soon});
  EXPECT_EQ(token.size(), 32u);
  for (const auto& f : std::filesystem::directory_iterator(dir + "/tokens")) {
    EXPECT_EQ(read_file(f.path()).find(token), std::string::npos);  // only its hash names the file
    EXPECT_EQ(file_mode(f.path()), 0600u);
  }
  auto grant = ca.redeem_token(token);
  ASSERT_TRUE(grant);
  EXPECT_EQ(grant->name, "n1");
  EXPECT_FALSE(ca.redeem_token(token));  // used
  EXPECT_FALSE(ca.redeem_token("not-a-token"));
  std::string old = ca.create_token({"default", "n2", {}, std::chrono::system_clock::now() - std::chrono::seconds(1)});
  EXPECT_FALSE(ca.redeem_token(old));  // expired
}

TEST(Identity, FirstRunCreatesIstioFilesAndLaterRunsKeepThem) {
  std::string state = temp_dir();
  IdentityConfig cfg;
  cfg.name = "node-a";
  cfg.dns = {"a.example"};
  auto first = load_or_create_identity(cfg, state);
  EXPECT_EQ(first->spiffe.str(), "spiffe://cluster.local/ns/default/sa/node-a");
  EXPECT_EQ(first->source, CertSource::kLocalCa);
  EXPECT_EQ(first->chain_problem, "");
  EXPECT_EQ(file_mode(state + "/key.pem"), 0600u);
  EXPECT_EQ(file_mode(state + "/cert-chain.pem"), 0644u);
  EXPECT_TRUE(file_exists(state + "/root-cert.pem"));
  auto again = load_or_create_identity(IdentityConfig{}, state);  // names now come from the certificate
  EXPECT_EQ(again->node_id, first->node_id);
  EXPECT_EQ(again->spiffe.str(), first->spiffe.str());
  EXPECT_EQ(again->trust_domain, "cluster.local");
  // Renewal: a new certificate for the same key, so the node ID stays.
  auto renewed = renew_identity(IdentityConfig{}, state, *again);
  EXPECT_EQ(renewed->node_id, first->node_id);
  EXPECT_NE(X509_cmp(renewed->chain[0].get(), first->chain[0].get()), 0);
  EXPECT_EQ(inspect(renewed->chain[0].get()).dns, std::vector<std::string>{"node-a"});
}

TEST(Identity, ExistingFilesWithoutALocalCaAreUsedAsTheyAre) {
  // As mounted by another CA: a chain, a key and roots, nothing else.
  std::string ca_dir = temp_dir() + "/their-ca";
  LocalCa ca = LocalCa::init(ca_dir, "istio.test");
  std::string state = temp_dir();
  auto key = generate_p256_key();
  auto chain = ca.issue(key.get(), workload_spiffe_id("istio.test", "prod", "web"), {}, std::chrono::hours(1));
  write_file_atomic(state + "/key.pem", private_key_pem(key.get()), 0600);
  write_file_atomic(state + "/cert-chain.pem", to_pem(chain), 0644);
  write_file_atomic(state + "/root-cert.pem", to_pem(ca.roots()), 0644);
  auto id = load_or_create_identity(IdentityConfig{}, state);
  EXPECT_EQ(id->source, CertSource::kFiles);
  EXPECT_EQ(id->spiffe.str(), "spiffe://istio.test/ns/prod/sa/web");
  EXPECT_EQ(id->trust_domain, "istio.test");
  EXPECT_FALSE(std::filesystem::exists(state + "/ca"));
  IdentityConfig override_td;
  override_td.trust_domain = "other.test";
  EXPECT_EQ(load_or_create_identity(override_td, state)->trust_domain, "other.test");
}

TEST(Identity, ConfiguredPathsAndSeveralRoots) {
  std::string a = temp_dir() + "/a", b = temp_dir() + "/b", files = temp_dir();
  LocalCa ca_a = LocalCa::init(a, "a.test");
  LocalCa ca_b = LocalCa::init(b, "b.test");
  auto key = generate_p256_key();
  write_file_atomic(files + "/k.pem", private_key_pem(key.get()), 0600);
  write_file_atomic(files + "/c.pem", to_pem(ca_a.issue(key.get(), workload_spiffe_id("a.test", "x", "y"), {}, std::chrono::hours(1))), 0644);
  IdentityConfig cfg;
  cfg.cert = files + "/c.pem";
  cfg.key = files + "/k.pem";
  cfg.roots = {a + "/root-cert.pem", b + "/root-cert.pem"};
  auto id = load_or_create_identity(cfg, temp_dir());
  EXPECT_EQ(id->roots.size(), 2u);
  EXPECT_EQ(id->source, CertSource::kFiles);
  cfg.cert = files + "/missing.pem";
  EXPECT_THROW(load_or_create_identity(cfg, temp_dir()), AuthError);
}

TEST(CaRequest, ParsesTheSignRequest) {
  std::string head = "POST /ca/sign HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer abc\r\nContent-Length: 5\r\n\r\n";
  EXPECT_TRUE(parse_ca_request(head).need_more());
  auto req = parse_ca_request(head + "hello");
  ASSERT_TRUE(req);
  EXPECT_EQ(req->token, "abc");
  EXPECT_EQ(req->csr, "hello");
  // Refused (neither a request nor a prefix of one), with the status the client gets.
  auto bad = [](std::string_view bytes) {
    auto r = parse_ca_request(bytes);
    EXPECT_TRUE(!r && !r.need_more()) << bytes;
    return r ? 0 : http_status(r.error());
  };
  EXPECT_EQ(bad("GET /ca/sign HTTP/1.1\r\nHost: gw\r\n\r\n"), 405);
  EXPECT_EQ(bad("POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 404);
  bad("garbage\r\n\r\n");
  std::string big = "POST /ca/sign HTTP/1.1\r\nContent-Length: 99999\r\n\r\n";
  EXPECT_EQ(bad(big), 413);
}

TEST(CaService, TokenOnceThenRenewalByCertificate) {
  boost::asio::io_context control;
  std::string dir = temp_dir() + "/ca";
  LocalCa::init(dir, "mesh.test");
  CaService service(control, LocalCa::open(dir), std::chrono::seconds(3600));
  auto key = generate_p256_key();
  std::string csr = to_pem(make_csr(key.get(), "n1", "", {}).get());
  std::string token = service.ca().create_token({"default", "n1", {}, std::chrono::system_clock::now() + std::chrono::minutes(1)});

  EXPECT_EQ(service.sign({"", csr}, nullptr).status, 401);
  EXPECT_EQ(service.sign({token, "not a csr"}, nullptr).status, 400);  // and the token is still good:
  CaResponse ok = service.sign({token, csr}, nullptr);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(service.sign({token, csr}, nullptr).status, 401);
  auto reply = nlohmann::json::parse(ok.body);
  auto chain = parse_certs(reply["cert_chain"].get<std::string>(), "reply");
  EXPECT_EQ(inspect(chain[0].get()).spiffe->str(), "spiffe://mesh.test/ns/default/sa/n1");
  // Renewal: the holder of that certificate gets the same identity again.
  CaResponse renewed = service.sign({"", csr}, chain[0].get());
  ASSERT_EQ(renewed.status, 200);
  auto again = parse_certs(nlohmann::json::parse(renewed.body)["cert_chain"].get<std::string>(), "reply");
  EXPECT_EQ(inspect(again[0].get()).spiffe->str(), "spiffe://mesh.test/ns/default/sa/n1");
  // A certificate from another CA renews nothing.
  LocalCa other = LocalCa::init(temp_dir() + "/other", "mesh.test");
  auto foreign = other.issue(key.get(), workload_spiffe_id("mesh.test", "default", "n1"), {}, std::chrono::hours(1));
  EXPECT_EQ(service.sign({"", csr}, foreign[0].get()).status, 403);
  EXPECT_EQ(service.issued(), 2u);
  EXPECT_EQ(service.refused(), 4u);
}

}  // namespace
}  // namespace ugate

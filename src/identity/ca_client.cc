#include "identity/ca_client.h"
#include "runtime/socket_protect.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "identity/identity.h"
#include "crypto/pem.h"

namespace ugate {
namespace {

constexpr size_t kMaxReply = 256 * 1024;

std::string token_text(const IdentityConfig& cfg) {
  std::string t = cfg.ca_token;
  if (t.empty() && !cfg.ca_token_file.empty()) t = read_file(cfg.ca_token_file);
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  if (t.empty()) throw AuthError("identity.ca: no bootstrap token (token or token_file) for the first certificate");
  return t;
}

ossl::Certs bootstrap_roots(const IdentityConfig& cfg) {
  ossl::Certs roots;
  std::vector<std::string> paths = cfg.ca_root.empty() ? cfg.roots : std::vector<std::string>{cfg.ca_root};
  if (paths.empty()) throw AuthError("identity.ca.root: needed to verify the CA before this node has a certificate");
  for (const auto& p : paths) {
    for (auto& c : parse_certs(read_file(p), p)) roots.push_back(std::move(c));
  }
  return roots;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

int connect_with_timeout(const HostPort& to) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(to.host.c_str(), std::to_string(to.port).c_str(), &hints, &res); rc != 0)
    throw AuthError("CA " + to.str() + ": cannot resolve: " + gai_strerror(rc));
  int fd = -1;
  std::string why = "no address";
  for (addrinfo* a = res; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (!protect_socket(fd)) {
      ::close(fd);
      fd = -1;
      why = "the embedding program refused the socket";
      continue;
    }
    timeval tv{kCaRequestTimeout.count(), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect(2) too
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      why = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(res);
  if (fd < 0) throw AuthError("CA " + to.str() + ": cannot connect: " + why + " (is its mesh port reachable?)");
  return fd;
}

}  // namespace

CaReply request_certificate(const IdentityConfig& cfg, EVP_PKEY* key, const NodeIdentity* current,
                            const WorkloadNames& names) {
  const HostPort& to = cfg.ca_address;
  std::string where = "CA " + to.str();
  std::string token = current ? "" : token_text(cfg);
  ossl::Certs roots;
  if (current) {
    for (const auto& r : current->roots) roots.push_back(ossl::up_ref(r.get()));
  } else {
    roots = bootstrap_roots(cfg);
  }
  std::string spiffe = workload_spiffe_id(names.trust_domain, names.ns, names.name).str();
  std::string csr = to_pem(make_csr(key, names.name, spiffe, names.dns).get());

  ossl::SslCtx ctx = ossl::adopt(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
  for (const auto& r : roots) X509_STORE_add_cert(store, r.get());
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (current) {
    SSL_CTX_use_certificate(ctx.get(), current->chain[0].get());
    for (size_t i = 1; i < current->chain.size(); ++i) SSL_CTX_add1_chain_cert(ctx.get(), current->chain[i].get());
    SSL_CTX_use_PrivateKey(ctx.get(), current->key.get());
  }
  static const unsigned char alpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx.get(), alpn, sizeof alpn - 1);

  Fd fd(connect_with_timeout(to));
  ossl::Ssl ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd.get());
  if (SSL_connect(ssl.get()) != 1) {
    long verify = SSL_get_verify_result(ssl.get());
    std::string why = verify != X509_V_OK ? std::string("its certificate: ") + X509_verify_cert_error_string(verify)
                                          : ossl::last_error("handshake failed");
    throw AuthError(where + ": TLS: " + why);
  }
  if (!spiffe_id_of(SSL_get0_peer_certificate(ssl.get())))
    throw AuthError(where + ": its certificate has no SPIFFE ID");

  std::string request = "POST /ca/sign HTTP/1.1\r\nHost: " + to.str() +
                        "\r\nContent-Type: application/pkcs10\r\nConnection: close\r\nContent-Length: " +
                        std::to_string(csr.size()) + "\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
  request += "\r\n" + csr;
  size_t written = 0;
  if (SSL_write_ex(ssl.get(), request.data(), request.size(), &written) != 1 || written != request.size())
    throw AuthError(where + ": sending the request failed: " + ossl::last_error("connection closed"));
  std::string reply;
  char buf[16384];
  size_t n = 0;
  while (reply.size() < kMaxReply && SSL_read_ex(ssl.get(), buf, sizeof buf, &n) == 1) reply.append(buf, n);
  ossl::last_error();

  auto head_end = reply.find("\r\n\r\n");
  if (head_end == std::string::npos || reply.compare(0, 9, "HTTP/1.1 ") != 0)
    throw AuthError(where + ": no HTTP reply (" + std::to_string(reply.size()) + " bytes)");
  int status = std::atoi(reply.c_str() + 9);
  std::string body = reply.substr(head_end + 4);
  if (status != 200) {
    while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) body.pop_back();
    throw AuthError(where + ": refused (" + std::to_string(status) + "): " + body.substr(0, 200));
  }
  CaReply out;
  try {
    auto j = nlohmann::json::parse(body);
    out.chain = parse_certs(j.at("cert_chain").get<std::string>(), where + " cert_chain");
    out.roots = parse_certs(j.at("root_cert").get<std::string>(), where + " root_cert");
  } catch (const nlohmann::json::exception& e) {
    throw AuthError(where + ": bad reply: " + e.what());
  }
  if (X509_check_private_key(out.chain[0].get(), key) != 1) {
    ossl::last_error();
    throw AuthError(where + ": the certificate it sent is not for this node's key");
  }
  return out;
}

}  // namespace ugate

#include "crypto/pem.h"

#include <fcntl.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ugate {
namespace {

ossl::Bio memory_bio(std::string_view pem) {
  return ossl::Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

ossl::Certs parse_certs(std::string_view pem, const std::string& what) {
  ossl::Certs out;
  auto bio = memory_bio(pem);
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(c);
  ossl::last_error();  // the end of input shows as an error: drop it
  if (out.empty()) throw AuthError(what + ": no PEM certificate in it");
  return out;
}

ossl::PKey parse_private_key(std::string_view pem, const std::string& what) {
  auto bio = memory_bio(pem);
  // Empty passphrase callback: an encrypted key fails instead of prompting.
  static pem_password_cb* no_prompt = [](char*, int, int, void*) { return 0; };
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_prompt, nullptr);
  if (!key) throw AuthError(what + ": no usable private key (" + ossl::last_error() + ")");
  return ossl::PKey(key);
}

ossl::Csr parse_csr(std::string_view pem, const std::string& what) {
  auto bio = memory_bio(pem);
  X509_REQ* csr = PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr);
  if (!csr) throw AuthError(what + ": not a PEM certificate request (" + ossl::last_error() + ")");
  return ossl::Csr(csr);
}

std::string to_pem(X509* cert) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return bio_text(bio.get());
}

std::string to_pem(const ossl::Certs& certs) {
  std::string out;
  for (const auto& c : certs) out += to_pem(c.get());
  return out;
}

std::string to_pem(X509_REQ* csr) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), csr);
  return bio_text(bio.get());
}

std::string private_key_pem(EVP_PKEY* key) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_text(bio.get());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw AuthError(path + ": cannot read: " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool file_exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

void write_file_atomic(const std::string& path, std::string_view data, unsigned mode) {
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) throw AuthError(tmp + ": cannot create: " + std::strerror(errno));
  ::fchmod(fd, mode);  // whatever the umask
  bool ok = true;
  while (ok && !data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) data.remove_prefix(static_cast<size_t>(n));
  }
  ok = ok && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    err = ok ? errno : err;
    ::unlink(tmp.c_str());
    throw AuthError(path + ": cannot write: " + std::strerror(err));
  }
}

}  // namespace ugate

#pragma once
// PEM in and out, and the files keys and certificates live in. Control plane
// only (start-up, renewal, the CLI): failures throw AuthError with the path.
#include <stdexcept>
#include <string>
#include <string_view>

#include "crypto/ossl.h"

namespace ugate {

// Control-plane failures of src/identity (files, certificates, the CA), with a
// message that names the file or the field.
class AuthError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Every certificate in `pem` (a chain or a bundle of roots), in order; throws
// when there is none or one does not parse. `what` names the source in errors.
ossl::Certs parse_certs(std::string_view pem, const std::string& what);
ossl::PKey parse_private_key(std::string_view pem, const std::string& what);
ossl::Csr parse_csr(std::string_view pem, const std::string& what);

std::string to_pem(X509* cert);
std::string to_pem(const ossl::Certs& certs);
std::string to_pem(X509_REQ* csr);
std::string private_key_pem(EVP_PKEY* key);  // PKCS#8, unencrypted

std::string read_file(const std::string& path);  // throws AuthError naming the path
bool file_exists(const std::string& path);
// Writes through a temporary file and rename(2), so readers see the old or
// the new content, never half; the file is created with `mode` (0600 for keys).
void write_file_atomic(const std::string& path, std::string_view data, unsigned mode);

}  // namespace ugate

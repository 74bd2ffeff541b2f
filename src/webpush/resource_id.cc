#include "webpush/resource_id.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "base/base64.h"
#include "crypto/p256.h"

namespace ugate::webpush {

bool is_b64url_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; }

bool valid_resource_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), is_b64url_char);
}

std::string random_resource_id() {
  uint8_t raw[16];
  if (!crypto::random_bytes(raw)) std::abort();  // no RNG, no capability URLs
  return base64url_encode(raw);
}

}  // namespace ugate::webpush

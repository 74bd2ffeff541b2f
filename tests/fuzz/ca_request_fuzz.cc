// libFuzzer target: any bytes as a CA sign request (HTTP/1.1 POST /ca/sign
// from an unauthenticated client on the mesh port), whole and in prefixes
// as they arrive; it must never crash, and never accept more than the limits.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "identity/ca_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (size_t n : {size, size / 2, size / 3}) {
    auto req = ugate::parse_ca_request(bytes.substr(0, n));
    if (req && req->csr.size() > ugate::kCaMaxBody) __builtin_trap();
    if (!req && (to_string(req.error()).empty() || ugate::http_status(req.error()) < 400)) __builtin_trap();
  }
  ugate::http_response({400, std::string(bytes.substr(0, 64))});
  return 0;
}

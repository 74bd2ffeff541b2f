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
    ugate::CaRequest req;
    std::string error;
    int status = 0;
    if (ugate::parse_ca_request(bytes.substr(0, n), req, error, status) == ugate::CaParse::kDone &&
        req.csr.size() > ugate::kCaMaxBody)
      __builtin_trap();
  }
  ugate::http_response({400, std::string(bytes.substr(0, 64))});
  return 0;
}

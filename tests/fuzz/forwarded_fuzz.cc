// libFuzzer target: any bytes as an HBONE request's Forwarded header (the
// peer chooses it); the parser must never crash or overrun, and a client it
// names must be an address it could have read from them.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "codec/forwarded.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view header(reinterpret_cast<const char*>(data), size);
  auto client = ugate::forwarded_client(header);
  if (client && header.find("=") == std::string_view::npos) __builtin_trap();
  return 0;
}

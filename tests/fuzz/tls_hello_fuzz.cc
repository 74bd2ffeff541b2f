// libFuzzer target: any bytes into the ClientHello parser, whole and in
// every prefix a sniffer would see; it must never crash or overrun.
#include <cstddef>
#include <cstdint>

#include "codec/tls_hello.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  auto whole = ugate::parse_client_hello(bytes);
  if (whole && whole->sni.size() > 255) __builtin_trap();
  if (!whole && to_string(whole.error()).empty()) __builtin_trap();
  for (size_t n = 0; n < size && n < 64; ++n) (void)ugate::parse_client_hello(bytes.first(n));
  return 0;
}

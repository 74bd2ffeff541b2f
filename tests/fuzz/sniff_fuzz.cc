// libFuzzer target: any bytes into the auto door's protocol sniffer, whole
// and in every prefix it would see while peeking. It must never crash or
// overrun, and must decide: a prefix of a decided input is never "unknown"
// unless the input is, and a full buffer always ends the peeking.
#include <cstddef>
#include <cstdint>

#include "codec/sniff.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  auto whole = ugate::sniff_protocol(bytes);
  if (whole && whole->what == ugate::Sniffed::kTls && whole->hello.sni.size() > 255) __builtin_trap();
  if (whole.need_more() && size >= ugate::kMaxSniffBytes) __builtin_trap();
  if (!whole && to_string(whole.error()).empty()) __builtin_trap();
  for (size_t n = 0; n < size && n < 64; ++n) {
    auto prefix = ugate::sniff_protocol(bytes.first(n));
    // Peeking is monotonic: once a prefix decided, more bytes cannot make it another protocol.
    if (prefix.need_more()) continue;
    if (prefix.ok() != whole.ok() || (prefix && prefix->what != whole->what)) __builtin_trap();
  }
  return 0;
}

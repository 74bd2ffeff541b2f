// libFuzzer target: any bytes as the start of a connection from a trusted
// load balancer (accept_proxy_protocol), whole and in growing prefixes as
// the door peeks them. The parser must never crash or overrun, claim more
// bytes than it was given or than a header may have, or decide differently
// on the header's own bytes than on the header with more after it; a header
// it names addresses in, written again by proxy_v2_header, reads back alike.
#include <cstddef>
#include <cstdint>

#include "codec/proxy_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ugate;
  std::span<const uint8_t> in(data, size);
  for (size_t n = 0; n < size && n < 128; ++n) (void)parse_proxy_header(in.first(n));
  auto h = parse_proxy_header(in);
  if (!h && to_string(h.error()).empty()) __builtin_trap();
  if (!h) return 0;
  if (h->size == 0 || h->size > size || h->size > kMaxProxyHeader) __builtin_trap();
  if (h->version == 1 && h->size > kMaxProxyV1Line) __builtin_trap();
  if (h->version != 1 && h->version != 2) __builtin_trap();
  auto alone = parse_proxy_header(in.first(h->size));
  if (!alone || alone->size != h->size || alone->proxied != h->proxied) __builtin_trap();
  if (h->proxied && h->source.address().is_v4() == h->destination.address().is_v4()) {
    std::string again = proxy_v2_header(h->source, h->destination, "");
    auto back = parse_proxy_header({reinterpret_cast<const uint8_t*>(again.data()), again.size()});
    if (!back || !back->proxied || back->source != h->source || back->destination != h->destination) __builtin_trap();
  }
  return 0;
}

// libFuzzer target: any bytes into each SOCKS5 parser, as the door feeds
// them (a growing prefix, then what is left after each whole message); they
// must never crash, overrun or claim more bytes than they were given.
#include <cstddef>
#include <cstdint>

#include "codec/socks5_codec.h"

namespace {

template <typename T>
size_t check(const ugate::Result<T, ugate::socks5::Error>& p, size_t size) {
  if (!p && ugate::socks5::to_string(p.error()).empty()) __builtin_trap();
  if (p && (p->size == 0 || p->size > size)) __builtin_trap();
  return p ? p->size : size;
}

void check_datagram(const ugate::Result<ugate::socks5::Datagram, ugate::socks5::Error>& p, size_t size) {
  if (p.need_more() || (p && (p->header_size == 0 || p->header_size > size))) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ugate::socks5;
  std::span<const uint8_t> in(data, size);
  for (size_t n = 0; n < size && n < 32; ++n) (void)parse_request(in.first(n));
  // The door's order: greeting, credentials, request, each on what is left.
  size_t at = check(parse_greeting(in), size);
  at += check(parse_credentials(in.subspan(at)), size - at);
  check(parse_request(in.subspan(std::min(at, size))), size - std::min(at, size));
  check(parse_request(in), size);
  check_datagram(parse_udp_header(in), size);
  return 0;
}

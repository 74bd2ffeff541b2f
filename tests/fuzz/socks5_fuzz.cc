// libFuzzer target: any bytes into each SOCKS5 parser, as the door feeds
// them (a growing prefix, then what is left after each whole message); they
// must never crash, overrun or claim more bytes than they were given.
#include <cstddef>
#include <cstdint>

#include "codec/socks5_codec.h"

namespace {

template <typename T>
size_t check(const ugate::socks5::Parsed<T>& p, size_t size) {
  if (p.status == ugate::socks5::Status::kDone && (p.used == 0 || p.used > size)) __builtin_trap();
  return p.status == ugate::socks5::Status::kDone ? p.used : size;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ugate::socks5;
  std::span<const uint8_t> in(data, size);
  for (size_t n = 0; n < size && n < 32; ++n) parse_request(in.first(n));
  // The door's order: greeting, credentials, request, each on what is left.
  size_t at = check(parse_greeting(in), size);
  at += check(parse_credentials(in.subspan(at)), size - at);
  check(parse_request(in.subspan(std::min(at, size))), size - std::min(at, size));
  check(parse_request(in), size);
  check(parse_udp_header(in), size);
  return 0;
}

// libFuzzer target: any datagram into the discovery announce parser. It must
// never crash or overrun, and what it accepts must be consistent: the signed
// part and the signature cover the datagram exactly, and re-encoding the
// fields gives back the signed part.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "discovery/announce.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ugate::discovery;
  auto p = parse_announce(std::span<const uint8_t>(data, size));
  if (!p) return 0;
  if (p->signed_part.size() + p->signature.size() != size) __builtin_trap();
  if (p->signature.size() != kSignatureSize || p->signed_part.data() != data) __builtin_trap();
  if (p->announce.chain.empty() || p->announce.chain.size() > kMaxCerts) __builtin_trap();
  if (p->announce.addresses.size() > kMaxAddresses) __builtin_trap();
  ugate::Bytes again = encode_unsigned(p->announce);
  if (again.size() != p->signed_part.size() || std::memcmp(again.data(), data, again.size()) != 0) __builtin_trap();
  return 0;
}

// libFuzzer target: any bytes into the HTTP/1 head parsers (whole and in
// prefixes, as a door reads them), the framing rules, the absolute-form
// target parser and the chunked-body scanner (in two pieces split anywhere).
#include <cstddef>
#include <cstdint>

#include "codec/http1_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ugate::http1;
  using ugate::Result;
  std::span<const uint8_t> in(data, size);
  for (size_t n = 0; n < size && n < 48; ++n) (void)parse_request_head(in.first(n));
  auto req = parse_request_head(in);
  if (!req && to_string(req.error()).empty()) __builtin_trap();
  if (req) {
    if (req->size == 0 || req->size > size) __builtin_trap();
    (void)request_framing(*req);
    (void)parse_absolute_uri(req->target);
    (void)parse_authority(req->target);
    for (const auto& h : req->headers) is_hop_by_hop(*req, h.name);
  }
  auto resp = parse_response_head(in);
  if (resp) (void)response_framing(*resp, "GET");

  ChunkedScanner whole;
  auto used = whole.scan(in);
  if (used && *used > size) __builtin_trap();
  size_t split = size ? data[0] % (size + 1) : 0;
  ChunkedScanner pieces;
  auto a = pieces.scan(in.first(split));
  auto b = !a || pieces.done() ? Result<size_t, Error>(size_t{0}) : pieces.scan(in.subspan(*a));
  // Where the body ends cannot depend on how its bytes arrived.
  if (whole.done() != pieces.done() || (whole.done() && *used != *a + *b)) __builtin_trap();
  return 0;
}

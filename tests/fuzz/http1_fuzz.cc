// libFuzzer target: any bytes into the HTTP/1 head parsers (whole and in
// prefixes, as a door reads them), the framing rules, the absolute-form
// target parser and the chunked-body scanner (in two pieces split anywhere).
#include <cstddef>
#include <cstdint>

#include "codec/http1_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ugate::http1;
  std::span<const uint8_t> in(data, size);
  for (size_t n = 0; n < size && n < 48; ++n) parse_request_head(in.first(n));
  Parsed req = parse_request_head(in);
  if (req.status == Status::kDone) {
    if (req.used == 0 || req.used > size) __builtin_trap();
    request_framing(req.head);
    parse_absolute_uri(req.head.target);
    parse_authority(req.head.target);
    for (const auto& h : req.head.headers) is_hop_by_hop(req.head, h.name);
  }
  Parsed resp = parse_response_head(in);
  if (resp.status == Status::kDone) response_framing(resp.head, "GET");

  ChunkedScanner whole;
  size_t used = whole.scan(in);
  if (used > size) __builtin_trap();
  size_t split = size ? data[0] % (size + 1) : 0;
  ChunkedScanner pieces;
  size_t a = pieces.scan(in.first(split));
  size_t b = pieces.done() || pieces.failed() ? 0 : pieces.scan(in.subspan(a));
  // Where the body ends cannot depend on how its bytes arrived.
  if (whole.done() != pieces.done() || (whole.done() && used != a + b)) __builtin_trap();
  return 0;
}

// libFuzzer target: any bytes into the STUN codec and the server's answer,
// as a datagram and as a TCP stream; they must never crash or overrun, and
// every answer must itself parse (with a good FINGERPRINT) and carry the
// request's transaction ID. The same bytes as a server's answer to the node's
// client (stun/client.h): Binding, error and Data readers, and a TurnClient
// whose pending request has the answer's transaction.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "stun/binding.h"
#include "stun/client.h"
#include "stun/message.h"

namespace {

using namespace ugate::stun;

const ServerOptions& options(bool credentials) {
  static const ServerOptions plain = [] {
    ServerOptions s;
    s.primary.ip = {127, 0, 0, 1};
    s.primary.port = 3478;
    Address other = s.primary;
    other.ip[3] = 2;
    other.port = 3479;
    s.other = other;
    return s;
  }();
  static const ServerOptions users = [] {
    ServerOptions s = plain;
    s.users.push_back({"evtj:h6vY", "VOkJxbRl1RmTxUk/WvJxBt"});
    return s;
  }();
  return credentials ? users : plain;
}

// What a hostile server could answer the client: read, never trusted.
void as_client(const Message& m) {
  (void)read_binding_answer(m);
  (void)read_error_code(m);
  if (auto d = read_data_indication(m); d && d->data.size() > m.bytes.size()) __builtin_trap();
  TurnClient client({"user", "pass"});
  (void)client.allocate(m.transaction);
  for (int i = 0; i < 3; ++i) {
    auto a = client.on_answer(m);  // the same answer again: a retry loop must end
    if (a.outcome != TurnClient::Outcome::kRetry) break;
    (void)client.retry(m.transaction);
  }
}

void check_answer(std::span<const uint8_t> request, const Answer& a) {
  if (a.bytes.empty()) return;
  auto m = parse(a.bytes);
  if (!m || m->cls == Class::kRequest || request.size() < kHeaderSize) __builtin_trap();
  if (!std::equal(m->transaction.begin(), m->transaction.end(), request.begin() + 8)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  if (auto m = parse(in)) {
    for (const auto& attr : m->attributes) {
      if (attr.offset + 4 + attr.value.size() > size) __builtin_trap();
      (void)read_address(attr.value);
      (void)read_xor_address(attr.value, m->transaction);
    }
    (void)check_integrity(*m, in.first(std::min<size_t>(size, 8)), false);
    (void)check_integrity(*m, in.first(std::min<size_t>(size, 8)), true);
    as_client(*m);
  }
  Address source;
  source.ip = {192, 0, 2, 1};
  source.port = 40000;
  for (bool credentials : {false, true}) {
    check_answer(in, answer(options(credentials), {in, Transport::kUdp, source, kPrimary}));
    // A stream: frame by frame, as the TCP door cuts it.
    size_t at = 0;
    for (int frames = 0; frames < 64 && at < size; ++frames) {
      auto f = next_frame(in.subspan(at));
      if (!f) break;
      if (f->size == 0) __builtin_trap();
      if (f->size > size - at) break;
      auto frame = in.subspan(at, f->size);
      if (f->kind == FrameKind::kStun) check_answer(frame, answer(options(credentials), {frame, Transport::kTcp, source, kPrimary}));
      at += f->size;
    }
  }
  return 0;
}

// libFuzzer target: untrusted push bodies and Authorization headers.
// Any bytes go into the aes128gcm header parser and decryption (RFC 8188 with
// a fixed key, RFC 8291 with a fixed subscriber) and the VAPID header check;
// inputs starting with 0xEC instead drive an encrypt/decrypt round trip with
// the record size and padding they choose, which must give the input back.
#include <cstddef>
#include <cstdint>

#include "webpush/ece.h"
#include "webpush/message.h"
#include "webpush/vapid.h"

using namespace ugate;
using namespace ugate::webpush;

namespace {

const SubscriberSecret& subscriber() {
  // RFC 8291 Appendix A's user agent.
  static SubscriberSecret s{crypto::p256_private_from_raw(*base64url_decode("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")),
                            *base64url_decode("BTBZMqHH6r4Tts7J_aSIgg")};
  return s;
}

void round_trip(std::span<const uint8_t> in) {
  if (in.size() < 3) return;
  uint32_t rs = kMinRecordSize + in[0] % 64;
  size_t padding = in[1] % 128;
  auto plain = in.subspan(2);
  Bytes ikm(16, 0x5a);
  auto enc = ece_encrypt(plain, ikm, {.record_size = rs, .padding = padding});
  if (!enc) __builtin_trap();
  auto dec = ece_decrypt(*enc, ikm);
  if (!dec || !std::equal(dec->begin(), dec->end(), plain.begin(), plain.end())) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  if (size > 0 && data[0] == 0xEC) {
    round_trip(bytes.subspan(1));
    return 0;
  }
  if (auto header = parse_ece_header(bytes); header && header->size > size) __builtin_trap();
  Bytes ikm(16, 0x11);
  if (auto plain = ece_decrypt(bytes, ikm); plain && plain->size() >= size) __builtin_trap();
  if (auto plain = decrypt_message(bytes, subscriber()); plain && plain->size() >= size) __builtin_trap();
  (void)verify_vapid(as_text(bytes), "https://push.example.net", 1'700'000'000);
  return 0;
}

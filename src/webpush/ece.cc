#include "webpush/ece.h"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>

#include "crypto/p256.h"

namespace ugate::webpush {
namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// AES-128-GCM fetched once (an implicit fetch per message costs more than a short record).
const EVP_CIPHER* aes128gcm() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);  // immutable, shared
  return cipher;
}

// HKDF-Expand (RFC 5869) for one block, which is all aes128gcm needs.
template <size_t N>
std::array<uint8_t, N> expand(const crypto::Sha256& prk, std::string_view info) {
  static_assert(N <= 32);
  Bytes input(info.begin(), info.end());
  input.push_back(0x01);
  auto okm = crypto::hmac_sha256(prk, input);
  std::array<uint8_t, N> out;
  std::copy_n(okm.begin(), N, out.begin());
  return out;
}

// The nonce of record `seq`: the base nonce XOR seq (big-endian, in the low octets).
std::array<uint8_t, 12> record_nonce(const std::array<uint8_t, 12>& base, uint64_t seq) {
  auto nonce = base;
  for (int i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<uint8_t>(seq >> (8 * i));
  return nonce;
}

void put_u32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

}  // namespace

std::string_view to_string(EceError e) {
  switch (e) {
    case EceError::kTruncatedHeader: return "truncated aes128gcm header";
    case EceError::kBadRecordSize: return "record size below 18";
    case EceError::kBadKeyId: return "key id is not a P-256 public key";
    case EceError::kTruncated: return "content truncated (no last record)";
    case EceError::kShortRecord: return "record too short";
    case EceError::kDecryptFailed: return "decryption failed (wrong key or corrupted ciphertext)";
    case EceError::kBadPadding: return "bad padding or record delimiter";
    case EceError::kTooLarge: return "message too large";
    case EceError::kBadKey: return "bad key or auth secret";
    case EceError::kCrypto: return "crypto library failure";
  }
  return "unknown aes128gcm error";
}

Result<EceHeader, EceError> parse_ece_header(std::span<const uint8_t> body) {
  if (body.size() < kHeaderFixedSize) return EceError::kTruncatedHeader;
  EceHeader h;
  std::copy_n(body.begin(), kSaltSize, h.salt.begin());
  h.record_size = uint32_t(body[16]) << 24 | uint32_t(body[17]) << 16 | uint32_t(body[18]) << 8 | body[19];
  size_t idlen = body[20];
  if (body.size() < kHeaderFixedSize + idlen) return EceError::kTruncatedHeader;
  if (h.record_size < kMinRecordSize) return EceError::kBadRecordSize;
  h.keyid = body.subspan(kHeaderFixedSize, idlen);
  h.size = kHeaderFixedSize + idlen;
  return h;
}

EceKey derive_ece_key(std::span<const uint8_t, kSaltSize> salt, std::span<const uint8_t> ikm) {
  auto prk = crypto::hmac_sha256(salt, ikm);  // HKDF-Extract
  using namespace std::string_view_literals;
  return {expand<16>(prk, "Content-Encoding: aes128gcm\0"sv), expand<12>(prk, "Content-Encoding: nonce\0"sv)};
}

Result<Bytes, EceError> ece_encrypt(std::span<const uint8_t> plaintext, std::span<const uint8_t> ikm,
                                    const EceParams& p) {
  if (p.record_size < kMinRecordSize) return EceError::kBadRecordSize;
  if (p.keyid.size() > 255) return EceError::kBadKeyId;
  const size_t capacity = p.record_size - kTagSize - 1;  // content + padding per record
  const size_t records = std::max<size_t>(1, (plaintext.size() + p.padding + capacity - 1) / capacity);

  Bytes out(kHeaderFixedSize + p.keyid.size());
  std::copy(p.salt.begin(), p.salt.end(), out.begin());
  put_u32(&out[16], p.record_size);
  out[20] = static_cast<uint8_t>(p.keyid.size());
  std::copy(p.keyid.begin(), p.keyid.end(), out.begin() + kHeaderFixedSize);
  out.reserve(out.size() + plaintext.size() + p.padding + records * (kTagSize + 1));

  EceKey key = derive_ece_key(p.salt, ikm);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || !aes128gcm() || !EVP_EncryptInit_ex(ctx.get(), aes128gcm(), nullptr, key.cek.data(), nullptr))
    return EceError::kCrypto;

  size_t data_left = plaintext.size(), pad_left = p.padding;
  Bytes record;
  for (uint64_t seq = 0;; ++seq) {
    // Padding first, as RFC 8188's section 3.2 example does.
    size_t pad = std::min(pad_left, capacity);
    size_t n = std::min(data_left, capacity - pad);
    data_left -= n;
    pad_left -= pad;
    bool last = data_left == 0 && pad_left == 0;
    record.assign(plaintext.end() - static_cast<ptrdiff_t>(data_left + n),
                  plaintext.end() - static_cast<ptrdiff_t>(data_left));
    record.push_back(last ? 0x02 : 0x01);
    record.insert(record.end(), pad, 0x00);

    auto nonce = record_nonce(key.nonce, seq);
    size_t at = out.size();
    out.resize(at + record.size() + kTagSize);
    int len = 0, fin = 0;
    if (!EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, nullptr, nonce.data()) ||
        !EVP_EncryptUpdate(ctx.get(), &out[at], &len, record.data(), static_cast<int>(record.size())) ||
        !EVP_EncryptFinal_ex(ctx.get(), &out[at] + len, &fin) ||
        !EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, &out[at + record.size()]))
      return EceError::kCrypto;
    if (last) return out;
  }
}

Result<Bytes, EceError> ece_decrypt(std::span<const uint8_t> body, const EceHeader& h, std::span<const uint8_t> ikm) {
  std::span<const uint8_t> content = body.subspan(h.size);
  if (content.empty()) return EceError::kTruncated;
  EceKey key = derive_ece_key(h.salt, ikm);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || !aes128gcm() || !EVP_DecryptInit_ex(ctx.get(), aes128gcm(), nullptr, key.cek.data(), nullptr))
    return EceError::kCrypto;

  Bytes out;
  out.reserve(content.size());
  for (uint64_t seq = 0; !content.empty(); ++seq) {
    auto record = content.first(std::min<size_t>(content.size(), h.record_size));
    content = content.subspan(record.size());
    bool last_chunk = content.empty();
    if (record.size() < kTagSize + 1) return EceError::kShortRecord;

    auto nonce = record_nonce(key.nonce, seq);
    size_t at = out.size(), len = record.size() - kTagSize;
    out.resize(at + len);
    int n = 0, fin = 0;
    if (!EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, nullptr, nonce.data()) ||
        !EVP_DecryptUpdate(ctx.get(), &out[at], &n, record.data(), static_cast<int>(len)) ||
        !EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize,
                             const_cast<uint8_t*>(record.data() + len)))
      return EceError::kCrypto;
    if (EVP_DecryptFinal_ex(ctx.get(), &out[at] + n, &fin) <= 0) return EceError::kDecryptFailed;

    // Strip the padding: zeros back to the delimiter.
    size_t end = out.size();
    while (end > at && out[end - 1] == 0) --end;
    if (end == at) return EceError::kBadPadding;
    uint8_t delimiter = out[end - 1];
    out.resize(end - 1);
    if (delimiter == 0x02) {
      if (!last_chunk) return EceError::kBadPadding;  // records after the last one
      return out;
    }
    if (delimiter != 0x01) return EceError::kBadPadding;
    if (record.size() != h.record_size) return EceError::kBadPadding;  // only the last record may be short
  }
  return EceError::kTruncated;
}

Result<Bytes, EceError> ece_decrypt(std::span<const uint8_t> body, std::span<const uint8_t> ikm) {
  auto header = parse_ece_header(body);
  if (!header) return header.error();
  return ece_decrypt(body, *header, ikm);
}

}  // namespace ugate::webpush

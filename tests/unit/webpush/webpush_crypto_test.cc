// Web Push message encryption: every vector of shared/vectors/webpush.md
// (RFC 8291 Appendix A, RFC 8188 sections 3.1 and 3.2), written out here, plus
// round trips and the errors bad input gives.
#include <gtest/gtest.h>

#include <random>

#include "base/base64.h"
#include "crypto/p256.h"
#include "webpush/ece.h"
#include "webpush/message.h"

namespace ugate::webpush {
namespace {

Bytes b64(std::string_view s) {
  auto b = base64url_decode(s);
  EXPECT_TRUE(b) << s;
  return b.value_or(Bytes{});
}
template <size_t N>
std::array<uint8_t, N> fixed(std::string_view s) {
  Bytes b = b64(s);
  std::array<uint8_t, N> out{};
  EXPECT_EQ(b.size(), N) << s;
  std::copy_n(b.begin(), std::min(N, b.size()), out.begin());
  return out;
}
std::string text(const Bytes& b) { return std::string(as_text(b)); }

// ---- RFC 8291 Section 5 / Appendix A ----
constexpr std::string_view kPlaintext = "When I grow up, I want to be a watermelon";
constexpr std::string_view kUaPublic =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr std::string_view kUaPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
constexpr std::string_view kAuthSecret = "BTBZMqHH6r4Tts7J_aSIgg";
constexpr std::string_view kAsPublic =
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
constexpr std::string_view kAsPrivate = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
constexpr std::string_view kSalt = "DGv6ra1nlYgDCS1FRnbzlw";
constexpr std::string_view kEcdhSecret = "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs";
constexpr std::string_view kPrkKey = "Snr3JMxaHVDXHWJn5wdC52WjpCtd2EIEGBykDcZW32k";
constexpr std::string_view kIkm = "S4lYMb_L0FxCeq0WhDx813KgSYqU26kOyzWUdsXYyrg";
constexpr std::string_view kPrk = "09_eUZGrsvxChDCGRCdkLiDXrReGOEVeSCdCcPBSJSc";
constexpr std::string_view kCek = "oIhVW04MRdy2XN9CiKLxTg";
constexpr std::string_view kNonce = "4h_95klXJ5E_qnoN";
constexpr std::string_view kHeader =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl"
    "7A8";
constexpr std::string_view kCiphertext =
    "8pfeW0KbunFT06SuDKoJH9Ql87S1QUrdirN6GcG7sFz1y1sqLgVi1VhjVkHsUoEsbI_0LpXMuGvnzQ";
constexpr std::string_view kBody =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl"
    "7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

SubscriberSecret vector_subscriber() {
  return {crypto::p256_private_from_raw(b64(kUaPrivate)), b64(kAuthSecret)};
}

TEST(Rfc8291, KeysFromPrivateScalars) {
  auto ua = crypto::p256_private_from_raw(b64(kUaPrivate));
  auto as = crypto::p256_private_from_raw(b64(kAsPrivate));
  ASSERT_TRUE(ua && as);
  EXPECT_EQ(base64url_encode(crypto::p256_public_raw(ua.get())), kUaPublic);
  EXPECT_EQ(base64url_encode(crypto::p256_public_raw(as.get())), kAsPublic);
  EXPECT_EQ(base64url_encode(crypto::p256_private_raw(ua.get())), kUaPrivate);
}

TEST(Rfc8291, EveryIntermediateValue) {
  auto ua = crypto::p256_private_from_raw(b64(kUaPrivate));
  auto as = crypto::p256_private_from_raw(b64(kAsPrivate));
  auto ua_pub = crypto::p256_public_from_raw(b64(kUaPublic));
  auto as_pub = crypto::p256_public_from_raw(b64(kAsPublic));
  ASSERT_TRUE(ua && as && ua_pub && as_pub);
  // ECDH agrees from both sides.
  EXPECT_EQ(base64url_encode(*crypto::p256_ecdh(as.get(), ua_pub.get())), kEcdhSecret);
  EXPECT_EQ(base64url_encode(*crypto::p256_ecdh(ua.get(), as_pub.get())), kEcdhSecret);
  EXPECT_EQ(base64url_encode(crypto::hmac_sha256(b64(kAuthSecret), b64(kEcdhSecret))), kPrkKey);
  auto ikm = message_ikm(as.get(), ua_pub.get(), b64(kUaPublic), b64(kAsPublic), b64(kAuthSecret));
  ASSERT_TRUE(ikm);
  EXPECT_EQ(base64url_encode(*ikm), kIkm);
  EXPECT_EQ(base64url_encode(crypto::hmac_sha256(b64(kSalt), *ikm)), kPrk);
  auto salt = fixed<16>(kSalt);
  EceKey key = derive_ece_key(salt, *ikm);
  EXPECT_EQ(base64url_encode(key.cek), kCek);
  EXPECT_EQ(base64url_encode(key.nonce), kNonce);
}

TEST(Rfc8291, EncryptGivesTheVectorBody) {
  auto as = crypto::p256_private_from_raw(b64(kAsPrivate));
  auto salt = fixed<16>(kSalt);
  auto body = encrypt_message(as_bytes(kPlaintext), {b64(kUaPublic), b64(kAuthSecret)},
                              {.sender_key = as.get(), .salt = &salt});
  ASSERT_TRUE(body) << to_string(body.error());
  EXPECT_EQ(body->size(), 144u);
  EXPECT_EQ(base64url_encode(*body), kBody);
  EXPECT_EQ(base64url_encode(std::span(*body).first(86)), kHeader);
  EXPECT_EQ(base64url_encode(std::span(*body).subspan(86)), kCiphertext);
}

TEST(Rfc8291, DecryptTheVectorBody) {
  Bytes body = b64(kBody);
  auto header = parse_ece_header(body);  // its keyid points into `body`
  ASSERT_TRUE(header);
  EXPECT_EQ(header->record_size, 4096u);
  EXPECT_EQ(header->size, 86u);
  EXPECT_EQ(base64url_encode(header->keyid), kAsPublic);
  auto plain = decrypt_message(body, vector_subscriber());
  ASSERT_TRUE(plain) << to_string(plain.error());
  EXPECT_EQ(text(*plain), kPlaintext);
}

// ---- RFC 8188 section 3.1 and 3.2 ----
TEST(Rfc8188, Section31SingleRecord) {
  auto salt = fixed<16>("I1BsxtFttlv3u_Oo94xnmw");
  Bytes ikm = b64("yqdlZ-tYemfogSmv7Ws5PQ");
  EXPECT_EQ(base64url_encode(derive_ece_key(salt, ikm).cek), "_wniytB-ofscZDh4tbSjHw");
  auto enc = ece_encrypt(as_bytes("I am the walrus"), ikm, {.salt = salt, .record_size = 4096});
  ASSERT_TRUE(enc);
  EXPECT_EQ(enc->size(), 53u);
  EXPECT_EQ(base64url_encode(*enc), "I1BsxtFttlv3u_Oo94xnmwAAEAAA-NAVub2qFgBEuQKRapoZu-IxkIva3MEB1PD-ly8Thjg");
  auto dec = ece_decrypt(*enc, ikm);
  ASSERT_TRUE(dec);
  EXPECT_EQ(text(*dec), "I am the walrus");
}

constexpr std::string_view k32Encoded =
    "uNCkWiNYzKTnBN9ji3-qWAAAABkCYTHOG8chz_gnvgOqdGYovxyjuqRyJFjEDyoF1Fvkj6hQPdPHI51OEUKEpgz3SsLWIqS_uA";

TEST(Rfc8188, Section32TwoRecordsKeyIdAndPadding) {
  auto salt = fixed<16>("uNCkWiNYzKTnBN9ji3-qWA");
  Bytes ikm = b64("BO3ZVPxUlnLORbVGMpbT1Q");
  auto enc = ece_encrypt(as_bytes("I am the walrus"), ikm,
                         {.salt = salt, .record_size = 25, .keyid = as_bytes("a1"), .padding = 1});
  ASSERT_TRUE(enc);
  EXPECT_EQ(enc->size(), 73u);
  EXPECT_EQ(base64url_encode(*enc), k32Encoded);
  auto header = parse_ece_header(*enc);
  ASSERT_TRUE(header);
  EXPECT_EQ(header->record_size, 25u);
  EXPECT_EQ(text(Bytes(header->keyid.begin(), header->keyid.end())), "a1");
  auto dec = ece_decrypt(b64(k32Encoded), ikm);
  ASSERT_TRUE(dec) << to_string(dec.error());
  EXPECT_EQ(text(*dec), "I am the walrus");
}

TEST(Rfc8188, ManyRecordsAndPaddingRoundTrip) {
  std::mt19937 rng(8188);
  Bytes ikm(16, 7);
  for (int i = 0; i < 200; ++i) {
    uint32_t rs = 18 + rng() % 100;
    Bytes plain(rng() % 600);
    for (auto& b : plain) b = static_cast<uint8_t>(rng());
    EceParams p{.record_size = rs, .padding = rng() % 300};
    for (auto& b : p.salt) b = static_cast<uint8_t>(rng());
    auto enc = ece_encrypt(plain, ikm, p);
    ASSERT_TRUE(enc);
    auto dec = ece_decrypt(*enc, ikm);
    ASSERT_TRUE(dec) << "rs=" << rs << " size=" << plain.size() << " pad=" << p.padding << ": "
                     << to_string(dec.error());
    EXPECT_EQ(*dec, plain);
  }
}

// ---- errors ----
TEST(EceErrors, HeaderAndRecords) {
  Bytes ikm = b64("BO3ZVPxUlnLORbVGMpbT1Q");
  Bytes good = b64(k32Encoded);
  EXPECT_EQ(ece_decrypt(std::span(good).first(20), ikm).error(), EceError::kTruncatedHeader);
  EXPECT_EQ(ece_decrypt(std::span(good).first(22), ikm).error(), EceError::kTruncatedHeader);  // keyid cut
  EXPECT_EQ(ece_decrypt(std::span(good).first(23), ikm).error(), EceError::kTruncated);        // no records
  Bytes small_rs = good;
  small_rs[19] = 17;
  EXPECT_EQ(ece_decrypt(small_rs, ikm).error(), EceError::kBadRecordSize);
  // Only the first record (delimiter 0x01): the content was cut.
  EXPECT_EQ(ece_decrypt(std::span(good).first(23 + 25), ikm).error(), EceError::kTruncated);
  // A last record too short for a tag.
  EXPECT_EQ(ece_decrypt(std::span(good).first(23 + 25 + 10), ikm).error(), EceError::kShortRecord);
  for (size_t at : {size_t(0), size_t(23), size_t(40), good.size() - 1}) {
    Bytes corrupted = good;
    corrupted[at] ^= 0x40;
    EXPECT_EQ(ece_decrypt(corrupted, ikm).error(), EceError::kDecryptFailed) << at;
  }
  Bytes wrong_ikm = ikm;
  wrong_ikm[0] ^= 1;
  EXPECT_EQ(ece_decrypt(good, wrong_ikm).error(), EceError::kDecryptFailed);
}

TEST(EceErrors, RecordAfterTheLastOne) {
  Bytes ikm(16, 1);
  // 8 octets + delimiter + tag fill a 25-octet record exactly; it is the last one.
  auto enc = ece_encrypt(as_bytes("12345678"), ikm, {.record_size = 25});
  ASSERT_TRUE(enc);
  ASSERT_EQ(enc->size(), 21u + 25u);
  ASSERT_TRUE(ece_decrypt(*enc, ikm));
  enc->insert(enc->end(), 20, 0xAA);
  EXPECT_EQ(ece_decrypt(*enc, ikm).error(), EceError::kBadPadding);
}

TEST(EceErrors, AllZeroRecordHasNoDelimiter) {
  // Encrypt a record of zeros only with the same key schedule, by hand.
  Bytes ikm(16, 2);
  std::array<uint8_t, 16> salt{};
  EceKey key = derive_ece_key(salt, ikm);
  Bytes body(21, 0);
  body[18] = 0x10;  // rs = 4096
  Bytes record(5 + 16);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0, fin = 0;
  uint8_t zeros[5] = {};
  ASSERT_TRUE(EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, key.cek.data(), key.nonce.data()));
  ASSERT_TRUE(EVP_EncryptUpdate(ctx, record.data(), &len, zeros, 5));
  ASSERT_TRUE(EVP_EncryptFinal_ex(ctx, record.data() + len, &fin));
  ASSERT_TRUE(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, record.data() + 5));
  EVP_CIPHER_CTX_free(ctx);
  body.insert(body.end(), record.begin(), record.end());
  EXPECT_EQ(ece_decrypt(body, ikm).error(), EceError::kBadPadding);
}

TEST(MessageErrors, PayloadBudgetAndKeys) {
  auto sub = SubscriberSecret::generate();
  ASSERT_TRUE(sub.key);
  Bytes max(kMaxPlaintextSize, 'x');
  EXPECT_EQ(kMaxPlaintextSize, 3993u);
  auto body = encrypt_message(max, sub.public_keys());
  ASSERT_TRUE(body);
  EXPECT_EQ(body->size(), 4096u);
  EXPECT_EQ(*decrypt_message(*body, sub), max);
  max.push_back('x');
  EXPECT_EQ(encrypt_message(max, sub.public_keys()).error(), EceError::kTooLarge);

  SubscriberKeys bad = sub.public_keys();
  bad.auth.pop_back();
  EXPECT_EQ(encrypt_message(as_bytes("hi"), bad).error(), EceError::kBadKey);
  bad = sub.public_keys();
  bad.p256dh[10] ^= 1;  // off the curve
  EXPECT_EQ(encrypt_message(as_bytes("hi"), bad).error(), EceError::kBadKey);
}

TEST(MessageErrors, WrongSubscriberAndBadKeyId) {
  auto alice = SubscriberSecret::generate();
  auto bob = SubscriberSecret::generate();
  auto body = encrypt_message(as_bytes("for alice"), alice.public_keys());
  ASSERT_TRUE(body);
  EXPECT_EQ(text(*decrypt_message(*body, alice)), "for alice");
  EXPECT_EQ(decrypt_message(*body, bob).error(), EceError::kDecryptFailed);
  SubscriberSecret wrong_auth{crypto::p256_private_from_raw(crypto::p256_private_raw(alice.key.get())), bob.auth};
  EXPECT_EQ(decrypt_message(*body, wrong_auth).error(), EceError::kDecryptFailed);
  Bytes bad_keyid = *body;
  bad_keyid[21 + 5] ^= 1;  // the sender key in the header is no longer on the curve
  EXPECT_EQ(decrypt_message(bad_keyid, alice).error(), EceError::kBadKeyId);
  // Plain RFC 8188 content without a 65-octet key id.
  auto plain_ece = ece_encrypt(as_bytes("x"), Bytes(16, 0), {});
  EXPECT_EQ(decrypt_message(*plain_ece, alice).error(), EceError::kBadKeyId);
}

}  // namespace
}  // namespace ugate::webpush

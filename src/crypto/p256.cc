#include "crypto/p256.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

namespace ugate::crypto {
namespace {

constexpr const char* kCurve = "prime256v1";

template <class T, void (*F)(T*)>
struct Free {
  void operator()(T* p) const { F(p); }
};
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Free<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX, EVP_MD_CTX_free>>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, Free<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Free<OSSL_PARAM, OSSL_PARAM_free>>;
using Bn = std::unique_ptr<BIGNUM, Free<BIGNUM, BN_free>>;
using Group = std::unique_ptr<EC_GROUP, Free<EC_GROUP, EC_GROUP_free>>;
using Point = std::unique_ptr<EC_POINT, Free<EC_POINT, EC_POINT_free>>;
using Sig = std::unique_ptr<ECDSA_SIG, Free<ECDSA_SIG, ECDSA_SIG_free>>;

// Builds a key from OSSL_PARAMs (group plus public and/or private parts).
Pkey from_params(OSSL_PARAM_BLD* bld, int selection) {
  if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, kCurve, 0)) return nullptr;
  Params params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &key, selection, params.get()) <= 0)
    return nullptr;
  return Pkey(key);
}

// The curve's parameters as a key without a key: copying them is much
// cheaper than building the group from its name for every key (a third of
// the cost of a Web Push encryption). Made once, read-only, never freed.
EVP_PKEY* curve_parameters() {
  static EVP_PKEY* params = [] {
    EVP_PKEY* p = nullptr;
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    if (ctx && EVP_PKEY_paramgen_init(ctx.get()) > 0 && EVP_PKEY_CTX_set_group_name(ctx.get(), kCurve) > 0)
      EVP_PKEY_paramgen(ctx.get(), &p);
    return p;
  }();
  return params;
}

}  // namespace

Pkey p256_generate() {
  // A key-generation context per thread: it may not be shared, and making one costs as much as the key.
  thread_local PkeyCtx ctx = [] {
    PkeyCtx c(curve_parameters() ? EVP_PKEY_CTX_new_from_pkey(nullptr, curve_parameters(), nullptr) : nullptr);
    if (c && EVP_PKEY_keygen_init(c.get()) <= 0) c.reset();
    return c;
  }();
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_keygen(ctx.get(), &key) <= 0) return nullptr;
  return Pkey(key);
}

Pkey p256_public_from_raw(std::span<const uint8_t> point) {
  if (point.size() != kP256PublicSize || point[0] != 0x04 || !curve_parameters()) return nullptr;
  Pkey key(EVP_PKEY_new());
  // Decoding the point fails unless it is on the curve.
  if (!key || EVP_PKEY_copy_parameters(key.get(), curve_parameters()) <= 0 ||
      EVP_PKEY_set1_encoded_public_key(key.get(), point.data(), point.size()) <= 0)
    return nullptr;
  return key;
}

Pkey p256_private_from_raw(std::span<const uint8_t> scalar) {
  if (scalar.size() != kP256PrivateSize) return nullptr;
  Group group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  Bn priv(BN_bin2bn(scalar.data(), static_cast<int>(scalar.size()), nullptr));
  if (!group || !priv || BN_is_zero(priv.get()) || BN_cmp(priv.get(), EC_GROUP_get0_order(group.get())) >= 0)
    return nullptr;
  Point pub(EC_POINT_new(group.get()));
  uint8_t point[kP256PublicSize];
  if (!pub || !EC_POINT_mul(group.get(), pub.get(), priv.get(), nullptr, nullptr, nullptr) ||
      EC_POINT_point2oct(group.get(), pub.get(), POINT_CONVERSION_UNCOMPRESSED, point, sizeof point, nullptr) !=
          sizeof point)
    return nullptr;
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get()) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point))
    return nullptr;
  return from_params(bld.get(), EVP_PKEY_KEYPAIR);
}

bool is_p256(EVP_PKEY* key) {
  char name[32] = {};
  return key && EVP_PKEY_is_a(key, "EC") &&
         EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, nullptr) &&
         std::string_view(name) == kCurve;
}

Bytes p256_public_raw(EVP_PKEY* key) {
  Bytes out(kP256PublicSize);
  size_t len = 0;
  if (!is_p256(key) ||
      !EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, out.data(), out.size(), &len) ||
      len != kP256PublicSize || out[0] != 0x04)
    return {};
  return out;
}

Bytes p256_private_raw(EVP_PKEY* key) {
  BIGNUM* raw = nullptr;
  if (!is_p256(key) || !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &raw)) return {};
  Bn priv(raw);
  Bytes out(kP256PrivateSize);
  if (BN_bn2binpad(priv.get(), out.data(), static_cast<int>(out.size())) != static_cast<int>(out.size())) return {};
  return out;
}

std::optional<Sha256> p256_ecdh(EVP_PKEY* mine, EVP_PKEY* peer) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, mine, nullptr));
  Sha256 secret;
  size_t len = secret.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 || EVP_PKEY_derive_set_peer_ex(ctx.get(), peer, /*validate_peer=*/0) <= 0 ||
      EVP_PKEY_derive(ctx.get(), secret.data(), &len) <= 0 || len != secret.size())
    return std::nullopt;
  return secret;
}

std::optional<std::array<uint8_t, kEs256SignatureSize>> es256_sign(EVP_PKEY* key, std::span<const uint8_t> data) {
  if (!is_p256(key)) return std::nullopt;
  MdCtx md(EVP_MD_CTX_new());
  uint8_t der[80];  // an ECDSA-P256 DER signature is at most 72 bytes
  size_t der_len = sizeof der;
  if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key) <= 0 ||
      EVP_DigestSign(md.get(), der, &der_len, data.data(), data.size()) <= 0)
    return std::nullopt;
  const uint8_t* p = der;
  Sig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) return std::nullopt;
  std::array<uint8_t, kEs256SignatureSize> raw;
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw.data(), 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw.data() + 32, 32) != 32)
    return std::nullopt;
  return raw;
}

bool es256_verify(EVP_PKEY* key, std::span<const uint8_t> data, std::span<const uint8_t> signature) {
  if (!is_p256(key) || signature.size() != kEs256SignatureSize) return false;
  Sig sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(signature.data(), 32, nullptr);
  BIGNUM* s = BN_bin2bn(signature.data() + 32, 32, nullptr);
  if (!sig || !r || !s || !ECDSA_SIG_set0(sig.get(), r, s)) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  uint8_t der[80];
  uint8_t* p = der;
  int der_len = i2d_ECDSA_SIG(sig.get(), &p);
  MdCtx md(EVP_MD_CTX_new());
  return der_len > 0 && md && EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key) > 0 &&
         EVP_DigestVerify(md.get(), der, static_cast<size_t>(der_len), data.data(), data.size()) == 1;
}

// HMAC (RFC 2104) over a SHA-256 fetched once: OpenSSL 3's one-shot HMAC()
// fetches the MAC and the digest on every call, which was a tenth of the
// cost of a Web Push encryption (five HMACs each).
Sha256 hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  static EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);  // immutable, shared by threads
  thread_local MdCtx md(EVP_MD_CTX_new());
  constexpr size_t kBlock = 64;
  uint8_t k[kBlock] = {};
  Sha256 out{};
  unsigned len = 0;
  if (!sha256 || !md) std::abort();  // no SHA-256: nothing here can work
  if (key.size() > kBlock) {
    EVP_Digest(key.data(), key.size(), k, &len, sha256, nullptr);
  } else {
    std::copy(key.begin(), key.end(), k);
  }
  uint8_t pad[kBlock];
  for (size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x36;
  EVP_DigestInit_ex(md.get(), sha256, nullptr);
  EVP_DigestUpdate(md.get(), pad, kBlock);
  EVP_DigestUpdate(md.get(), data.data(), data.size());
  EVP_DigestFinal_ex(md.get(), out.data(), &len);
  for (size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x5c;
  EVP_DigestInit_ex(md.get(), sha256, nullptr);
  EVP_DigestUpdate(md.get(), pad, kBlock);
  EVP_DigestUpdate(md.get(), out.data(), out.size());
  EVP_DigestFinal_ex(md.get(), out.data(), &len);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(pad, sizeof pad);
  return out;
}

bool random_bytes(std::span<uint8_t> out) { return RAND_bytes(out.data(), static_cast<int>(out.size())) == 1; }

}  // namespace ugate::crypto

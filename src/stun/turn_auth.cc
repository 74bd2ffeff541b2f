#include "stun/turn_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>

#include "stun/message.h"

namespace ugate::stun {
namespace {

constexpr size_t kNonceMacSize = 8;  // of the HMAC-SHA1, in the nonce: forging one is 2^64 work

std::string hex(std::span<const uint8_t> b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t c : b) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::array<uint8_t, EVP_MAX_MD_SIZE> hmac_sha1(std::span<const uint8_t> key, std::span<const uint8_t> data,
                                               unsigned& size) {
  std::array<uint8_t, EVP_MAX_MD_SIZE> mac{};
  if (!HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), mac.data(), &size)) size = 0;
  return mac;
}

std::span<const uint8_t> bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// The nonce for a time: 16 hex digits of the time, then the HMAC's first bytes in hex.
std::string nonce_at(std::span<const uint8_t> secret, uint64_t ms) {
  std::array<uint8_t, 8> t{};
  for (int i = 0; i < 8; ++i) t[static_cast<size_t>(i)] = static_cast<uint8_t>(ms >> (56 - 8 * i));
  unsigned size = 0;
  auto mac = hmac_sha1(secret, t, size);
  return hex(t) + hex(std::span<const uint8_t>(mac.data(), std::min<size_t>(size, kNonceMacSize)));
}

}  // namespace

TurnAuth::TurnAuth(const TurnConfig& c, std::vector<uint8_t> nonce_secret)
    : realm_(c.realm), secret_(c.auth_secret), nonce_secret_(std::move(nonce_secret)),
      nonce_lifetime_ms_(static_cast<uint64_t>(c.nonce_lifetime.count())) {
  for (const auto& u : c.users) keys_[u.name] = long_term_key(u.name, realm_, u.password);
}

std::string TurnAuth::make_nonce(uint64_t now_ms) const { return nonce_at(nonce_secret_, now_ms); }

NonceState TurnAuth::check_nonce(std::string_view nonce, uint64_t now_ms) const {
  if (nonce.size() != 16 + 2 * kNonceMacSize) return NonceState::kInvalid;
  uint64_t issued = 0;
  auto [end, ec] = std::from_chars(nonce.data(), nonce.data() + 16, issued, 16);
  if (ec != std::errc() || end != nonce.data() + 16) return NonceState::kInvalid;
  std::string expected = nonce_at(nonce_secret_, issued);
  if (CRYPTO_memcmp(expected.data(), nonce.data(), expected.size()) != 0) return NonceState::kInvalid;
  return issued > now_ms || now_ms - issued >= nonce_lifetime_ms_ ? NonceState::kStale : NonceState::kValid;
}

std::optional<LongTermKey> TurnAuth::key(std::string_view username, uint64_t wall_now_ms) const {
  if (auto it = keys_.find(std::string(username)); it != keys_.end()) return it->second;
  if (secret_.empty()) return std::nullopt;
  auto expiry = rest_expiry(username);
  if (!expiry || *expiry * 1000 <= wall_now_ms) return std::nullopt;
  return long_term_key(username, realm_, rest_password(secret_, username));
}

std::string rest_password(std::string_view secret, std::string_view username) {
  unsigned size = 0;
  auto mac = hmac_sha1(bytes(secret), bytes(username), size);
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), mac.data(), static_cast<int>(size));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<uint64_t> rest_expiry(std::string_view username) {
  size_t colon = username.find(':');
  std::string_view digits = username.substr(0, colon);
  uint64_t expiry = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), expiry);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return expiry;
}

}  // namespace ugate::stun

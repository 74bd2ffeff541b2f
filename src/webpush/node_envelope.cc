#include "webpush/node_envelope.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "crypto/p256.h"
#include "webpush/node_keys.h"

namespace ugate::webpush {
namespace {

using nlohmann::json;

constexpr std::string_view kLabel = "ugate node message v1\n";
constexpr int kVersion = 1;

void append_line(Bytes& out, std::string_view field) {
  out.insert(out.end(), field.begin(), field.end());
  out.push_back('\n');
}

bool one_line(std::string_view s) { return s.find('\n') == std::string_view::npos; }

std::string_view string_of(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>()) : std::string_view();
}

// A field that must be an integer (as int64; an unsigned one beyond that is not).
std::optional<int64_t> integer_of(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(INT64_MAX)) return std::nullopt;
  return it->get<int64_t>();
}

}  // namespace

std::string_view to_string(EnvelopeError e) {
  switch (e) {
    case EnvelopeError::kUnsigned:
      return "not signed by its sender (a plain Web Push message, or an older ugate's)";
    case EnvelopeError::kMalformed: return "the signed envelope is malformed";
    case EnvelopeError::kUntrusted: return "the sender's certificate chain does not lead to our roots";
    case EnvelopeError::kBadSignature: return "the sender's signature does not verify: altered or forged";
    case EnvelopeError::kWrongRecipient: return "signed for another node";
    case EnvelopeError::kWrongChannel: return "the gateway's channel is not the one the sender signed";
    case EnvelopeError::kSenderMismatch: return "the gateway names another sender than the one who signed";
    case EnvelopeError::kExpired: return "expired (past the time its sender signed)";
    case EnvelopeError::kFromTheFuture: return "sent in the future by our clock";
    case EnvelopeError::kReplayed: return "replayed: a message with this ID from this sender was taken already";
  }
  return "bad envelope";
}

const char* envelope_error_name(EnvelopeError e) {
  switch (e) {
    case EnvelopeError::kUnsigned: return "unsigned";
    case EnvelopeError::kMalformed: return "malformed";
    case EnvelopeError::kUntrusted: return "untrusted";
    case EnvelopeError::kBadSignature: return "bad_signature";
    case EnvelopeError::kWrongRecipient: return "wrong_recipient";
    case EnvelopeError::kWrongChannel: return "wrong_channel";
    case EnvelopeError::kSenderMismatch: return "sender_mismatch";
    case EnvelopeError::kExpired: return "expired";
    case EnvelopeError::kFromTheFuture: return "future";
    case EnvelopeError::kReplayed: return "replayed";
  }
  return "bad";
}

Bytes envelope_signed_data(std::string_view from, const EnvelopeFields& f, std::span<const uint8_t> payload) {
  Bytes data(kLabel.begin(), kLabel.end());
  for (std::string_view field : {from, std::string_view(f.to), std::string_view(f.channel), std::string_view(f.id)})
    append_line(data, field);
  append_line(data, std::to_string(f.sent_ms));
  append_line(data, std::to_string(f.expires_ms));
  data.insert(data.end(), payload.begin(), payload.end());
  return data;
}

Bytes seal_envelope(EVP_PKEY* node_key, std::string_view from, const std::vector<Bytes>& chain,
                    const EnvelopeFields& fields, std::span<const uint8_t> payload) {
  if (!one_line(from) || !one_line(fields.to) || !one_line(fields.channel) || !one_line(fields.id) || chain.empty())
    return {};
  auto sig = crypto::es256_sign(node_key, envelope_signed_data(from, fields, payload));
  if (!sig) return {};
  json header = {{"v", kVersion},
                 {"to", fields.to},
                 {"channel", fields.channel},
                 {"id", fields.id},
                 {"sent", fields.sent_ms},
                 {"expires", fields.expires_ms},
                 {"chain", chain_json(chain)},
                 {"sig", base64url_encode(*sig)}};
  std::string line = header.dump() + "\n";  // dump() escapes any control character: one line
  Bytes out(line.begin(), line.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Result<OpenedEnvelope, EnvelopeError> open_envelope(std::span<const uint8_t> plaintext, const ChainVerifier& roots,
                                                    const EnvelopeContext& context, std::string* detail) {
  auto fail = [&](EnvelopeError e, std::string why = "") -> Result<OpenedEnvelope, EnvelopeError> {
    if (detail) *detail = why.empty() ? std::string(to_string(e)) : std::string(to_string(e)) + ": " + why;
    return e;
  };
  auto newline = std::find(plaintext.begin(), plaintext.end(), uint8_t{'\n'});
  if (plaintext.empty() || plaintext.front() != '{' || newline == plaintext.end())
    return fail(EnvelopeError::kUnsigned);
  json header = json::parse(plaintext.begin(), newline, nullptr, false);
  if (!header.is_object() || !header.contains("sig") || !header.contains("chain"))
    return fail(EnvelopeError::kUnsigned);

  OpenedEnvelope m;
  EnvelopeFields& f = m.fields;
  f.to = string_of(header, "to");
  f.channel = string_of(header, "channel");
  f.id = string_of(header, "id");
  auto sent = integer_of(header, "sent"), expires = integer_of(header, "expires");
  auto sig = base64url_field(header, "sig");
  auto chain = chain_of(header["chain"]);
  if (integer_of(header, "v") != kVersion || f.to.empty() || f.id.empty() || !one_line(f.to) ||
      !one_line(f.channel) || !one_line(f.id) || !sent || !expires || !chain || !sig ||
      sig->size() != crypto::kEs256SignatureSize)
    return fail(EnvelopeError::kMalformed);
  f.sent_ms = *sent;
  f.expires_ms = *expires;
  m.payload.assign(newline + 1, plaintext.end());

  auto peer = roots.verify(*chain);
  if (!peer) return fail(EnvelopeError::kUntrusted, std::string(to_string(peer.error())));
  if (!crypto::es256_verify(peer->key.get(), envelope_signed_data(peer->node_id, f, m.payload), *sig))
    return fail(EnvelopeError::kBadSignature);
  m.from = peer->node_id;
  m.spiffe_id = peer->spiffe_id;
  // Signed and intact from here: what is left is whether the gateway's claims
  // and this receiver agree with what the sender signed.
  if (f.to != context.me) return fail(EnvelopeError::kWrongRecipient, "for " + f.to);
  if (m.from != context.claimed_from)
    return fail(EnvelopeError::kSenderMismatch,
                "signed by " + m.from + ", the gateway says " + std::string(context.claimed_from));
  if (f.channel != context.claimed_channel)
    return fail(EnvelopeError::kWrongChannel,
                "signed for '" + f.channel + "', the gateway says '" + std::string(context.claimed_channel) + "'");
  if (f.sent_ms > context.now_ms + kEnvelopeClockSkewMs) return fail(EnvelopeError::kFromTheFuture);
  if (f.expires_ms < f.sent_ms || f.expires_ms - f.sent_ms > kEnvelopeMaxLifetimeMs ||
      context.now_ms > f.expires_ms + kEnvelopeClockSkewMs)
    return fail(EnvelopeError::kExpired);
  return m;
}

}  // namespace ugate::webpush

#pragma once
// A node message signed by its sender, inside the encryption: the gateway
// relays node messages and says who sent each (what it saw in TLS), but only
// the sender's node key makes the envelope, so a gateway can neither forge a
// message nor change who sent it, to whom, on which channel or until when.
//
// The plaintext a sender encrypts (RFC 8291) to the receiver's push keys:
//
//   {"v":1,"to":NODE_ID,"channel":NAME,"id":MID,"sent":MS,"expires":MS,
//    "chain":[DER base64url, leaf first],"sig":ES256 base64url} "\n" PAYLOAD
//
// `sig` is ES256 (raw r||s) by the leaf's key over envelope_signed_data:
// "ugate node message v1\n" FROM "\n" TO "\n" CHANNEL "\n" MID "\n" SENT "\n"
// EXPIRES "\n" PAYLOAD, where FROM is the node ID of the leaf's key and the
// times are decimal milliseconds since the epoch. No field but the payload
// may hold "\n", and the payload comes last, so the encoding is unambiguous.
// MID is the sender's random message ID; signed receipts name it (node_receipt.h).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "identity/peer_chain.h"

namespace ugate::webpush {

// How far a sender's clock may be ahead of or behind the receiver's.
inline constexpr int64_t kEnvelopeClockSkewMs = 5 * 60 * 1000;
// The longest an envelope may say it is valid (the push service's default max_ttl, 28 days).
inline constexpr int64_t kEnvelopeMaxLifetimeMs = 28LL * 24 * 3600 * 1000;

struct EnvelopeFields {
  std::string to;       // the receiving node's ID
  std::string channel;  // "" for a message to one node
  std::string id;       // the sender's message ID (random)
  int64_t sent_ms = 0, expires_ms = 0;
};

Bytes envelope_signed_data(std::string_view from, const EnvelopeFields& f, std::span<const uint8_t> payload);

// The plaintext to encrypt; empty when signing fails or a field is not
// one line. `chain`: the sender's certificates, DER, leaf first.
Bytes seal_envelope(EVP_PKEY* node_key, std::string_view from, const std::vector<Bytes>& chain,
                    const EnvelopeFields& fields, std::span<const uint8_t> payload);

enum class EnvelopeError : uint8_t {
  kUnsigned = 1,      // not an envelope: a plain Web Push message, or from a ugate before signing
  kMalformed,         // an envelope with a field missing or of the wrong form
  kUntrusted,         // the chain does not lead to the receiver's roots
  kBadSignature,      // altered, or signed by another key than the chain's
  kWrongRecipient,    // signed for another node
  kWrongChannel,      // the gateway's channel is not the one the sender signed
  kSenderMismatch,    // the gateway says another node sent it
  kExpired,           // past its signed expiry (or its lifetime is longer than allowed)
  kFromTheFuture,     // sent later than the receiver's clock allows
  kReplayed,          // seen before (SeenMessages)
};
std::string_view to_string(EnvelopeError e);
const char* envelope_error_name(EnvelopeError e);  // a word for JSON and counters

// What the receiver knows and what the gateway claims about one message.
struct EnvelopeContext {
  std::string_view me;               // the receiving node's ID
  std::string_view claimed_from;     // the gateway's "from"
  std::string_view claimed_channel;  // the gateway's "channel", "" for none
  int64_t now_ms = 0;
};

struct OpenedEnvelope {
  std::string from, spiffe_id;  // as the sender's certificate and signature prove them
  EnvelopeFields fields;
  Bytes payload;
};

// Every check but replay: the chain against `roots`, the signature, the
// recipient, the gateway's sender and channel against the signed ones, the
// validity window. *detail says more on failure (may be null).
Result<OpenedEnvelope, EnvelopeError> open_envelope(std::span<const uint8_t> plaintext, const ChainVerifier& roots,
                                                    const EnvelopeContext& context, std::string* detail);

}  // namespace ugate::webpush

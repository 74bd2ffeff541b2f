#pragma once
// A delivery receipt the receiving node signs: the gateway turns a node's
// acknowledgement into a receipt in the sender's mailbox, and without the
// receiver's signature the sender would have only the gateway's word that
// its message arrived. The receiver sends the signed receipt as the body of
// its acknowledgement (DELETE /m/ID); the gateway stores it as the receipt's
// data; the sender checks it with the receiver's key, which it verified
// when it looked the receiver up to encrypt to it (node_keys.h).
//
// Body: {"id": MID, "sig": ES256 base64url} over
// "ugate node receipt v1\n" RECEIVER "\n" SENDER "\n" MID, where MID is the
// ID the sender signed into its envelope (node_envelope.h).
#include <string>
#include <string_view>

#include "crypto/p256.h"

namespace ugate::webpush {

inline constexpr size_t kMaxReceiptBody = 256;

Bytes receipt_signed_data(std::string_view receiver, std::string_view sender, std::string_view message_id);
// The acknowledgement's body; "" if signing fails.
std::string sign_receipt(EVP_PKEY* receiver_key, std::string_view receiver, std::string_view sender,
                         std::string_view message_id);
// True when `body` is the receipt of `message_id` (the one the sender sent
// to `receiver`), signed by `receiver_public`; else *error says why.
bool verify_receipt(std::span<const uint8_t> body, EVP_PKEY* receiver_public, std::string_view receiver,
                    std::string_view sender, std::string_view message_id, std::string* error);

}  // namespace ugate::webpush

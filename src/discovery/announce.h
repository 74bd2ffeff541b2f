#pragma once
// The local-discovery announce: one UDP datagram a node multicasts on its
// links (FF02::5227 and 224.0.0.250, port 5227) saying "I am here, this is
// my mesh port". Sans-I/O: bytes in, fields out.
//
// Wire format (integers big-endian):
//   "UGAN"        4   magic
//   version       1   1
//   flags         1   0 (reserved; must be 0)
//   timestamp     8   milliseconds since the Unix epoch, when it was sent
//   sequence      4   counts up per announce of one process
//   mesh port     2   the node's mTLS mesh port (HBONE); 0 = none
//   n addresses   1   at most kMaxAddresses, then each:
//     family      1   4 or 6
//     address     4 or 16
//   n certs       1   1 to kMaxCerts, then each (leaf first):
//     length      2
//     DER         length bytes
//   signature    64   ES256 (ECDSA P-256, SHA-256, raw r||s) by the leaf
//                     certificate's key over every byte before it
//
// The node ID and SPIFFE ID are not sent: they follow from the certificate,
// which the receiver verifies against its trust roots. The timestamp and
// sequence let a receiver refuse replays (see NodeTable).
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/base64.h"
#include "base/result.h"

namespace ugate::discovery {

inline constexpr uint16_t kDefaultPort = 5227;
inline constexpr const char* kGroupV4 = "224.0.0.250";
inline constexpr const char* kGroupV6 = "ff02::5227";
inline constexpr size_t kMaxAnnounce = 4096;  // larger datagrams are not announces
inline constexpr size_t kMaxAddresses = 16;
inline constexpr size_t kMaxCerts = 3;
inline constexpr size_t kSignatureSize = 64;

struct Announce {
  uint64_t timestamp_ms = 0;
  uint32_t sequence = 0;
  uint16_t mesh_port = 0;
  std::vector<boost::asio::ip::address> addresses;
  std::vector<Bytes> chain;  // DER certificates, leaf first
};

// The fields and signature of one datagram; `signed_part` is what the
// signature covers (a view into the datagram, valid while it lives).
struct ParsedAnnounce {
  Announce announce;
  std::span<const uint8_t> signed_part;
  std::span<const uint8_t> signature;
};

enum class AnnounceError : uint8_t {
  kTooLong = 1,    // above kMaxAnnounce
  kTruncated,      // ends before a field it announces
  kBadMagic,       // not an announce (another protocol on the port)
  kBadVersion,     // a version we do not speak
  kBadField,       // flags set, unknown family, too many entries, no certificate
  kTrailingBytes,  // bytes after the signature
};
std::string_view to_string(AnnounceError e);

// The bytes before the signature: sign them, append the 64 signature bytes.
Bytes encode_unsigned(const Announce& a);
// Structure only: no certificate or signature is checked here.
Result<ParsedAnnounce, AnnounceError> parse_announce(std::span<const uint8_t> datagram);

}  // namespace ugate::discovery

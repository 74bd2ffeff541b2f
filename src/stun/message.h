#pragma once
// STUN messages (RFC 8489), sans-I/O: the header, the attributes, the
// addresses (plain and XOR'd), MESSAGE-INTEGRITY (HMAC-SHA1),
// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT (CRC-32 ^ 0x5354554e). Parsing
// returns a view into the caller's bytes; building appends attributes in
// order. No sockets and no asio here: the fuzz target and the TURN relay
// (RFC 8656, next) use the same code.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace ugate::stun {

inline constexpr uint32_t kMagicCookie = 0x2112A442;
inline constexpr size_t kHeaderSize = 20;
inline constexpr uint32_t kFingerprintXor = 0x5354554e;

enum class Class : uint8_t { kRequest = 0, kIndication = 1, kSuccess = 2, kError = 3 };

namespace method {
inline constexpr uint16_t kBinding = 0x001;
// TURN (RFC 8656 section 17)
inline constexpr uint16_t kAllocate = 0x003;
inline constexpr uint16_t kRefresh = 0x004;
inline constexpr uint16_t kSend = 0x006;
inline constexpr uint16_t kData = 0x007;
inline constexpr uint16_t kCreatePermission = 0x008;
inline constexpr uint16_t kChannelBind = 0x009;
}  // namespace method

// Attribute types (RFC 8489 section 18.3, RFC 5780 section 7). TURN's
// (RFC 8656 section 18) go here too.
namespace attr {
inline constexpr uint16_t kMappedAddress = 0x0001;
inline constexpr uint16_t kChangeRequest = 0x0003;
inline constexpr uint16_t kUsername = 0x0006;
inline constexpr uint16_t kMessageIntegrity = 0x0008;
inline constexpr uint16_t kErrorCode = 0x0009;
inline constexpr uint16_t kUnknownAttributes = 0x000A;
inline constexpr uint16_t kChannelNumber = 0x000C;  // TURN, RFC 8656 section 18
inline constexpr uint16_t kLifetime = 0x000D;
inline constexpr uint16_t kXorPeerAddress = 0x0012;
inline constexpr uint16_t kData = 0x0013;
inline constexpr uint16_t kRealm = 0x0014;
inline constexpr uint16_t kNonce = 0x0015;
inline constexpr uint16_t kXorRelayedAddress = 0x0016;
inline constexpr uint16_t kRequestedAddressFamily = 0x0017;
inline constexpr uint16_t kEvenPort = 0x0018;
inline constexpr uint16_t kRequestedTransport = 0x0019;
inline constexpr uint16_t kDontFragment = 0x001A;
inline constexpr uint16_t kMessageIntegritySha256 = 0x001C;
inline constexpr uint16_t kPasswordAlgorithm = 0x001D;
inline constexpr uint16_t kUserhash = 0x001E;
inline constexpr uint16_t kXorMappedAddress = 0x0020;
inline constexpr uint16_t kReservationToken = 0x0022;
inline constexpr uint16_t kPadding = 0x0026;
inline constexpr uint16_t kResponsePort = 0x0027;
inline constexpr uint16_t kAdditionalAddressFamily = 0x8000;
inline constexpr uint16_t kPasswordAlgorithms = 0x8002;
inline constexpr uint16_t kAlternateDomain = 0x8003;
inline constexpr uint16_t kSoftware = 0x8022;
inline constexpr uint16_t kAlternateServer = 0x8023;
inline constexpr uint16_t kFingerprint = 0x8028;
inline constexpr uint16_t kResponseOrigin = 0x802B;
inline constexpr uint16_t kOtherAddress = 0x802C;
}  // namespace attr

// 0x0000-0x7FFF: an agent that does not know the attribute must refuse the message (420).
constexpr bool comprehension_required(uint16_t type) { return type < 0x8000; }

enum class Error : uint8_t {
  kNeedMore,          // a stream holds only the start of a message
  kNotStun,           // top bits, magic cookie or length: not a STUN message (silently dropped)
  kLengthMismatch,    // a datagram whose length field disagrees with its size
  kBadAttribute,      // an attribute runs past the end of the message
  kAfterFingerprint,  // an attribute after FINGERPRINT, which must be last
  kBadFingerprint,    // FINGERPRINT present and wrong
  kBadAddress,        // an address attribute of the wrong size or family
  kCount
};
std::string_view to_string(Error e);

using TransactionId = std::array<uint8_t, 12>;

// An IP address and port, as STUN carries them (family 1: IPv4, 2: IPv6).
struct Address {
  uint8_t family = 1;
  std::array<uint8_t, 16> ip{};  // IPv4: the first 4 bytes
  uint16_t port = 0;
  size_t ip_size() const { return family == 1 ? 4 : 16; }
  bool operator==(const Address&) const = default;
};

struct Attribute {
  uint16_t type;
  std::span<const uint8_t> value;
  size_t offset;  // of its 4-byte header in the message
};

// A parsed message: a view into the bytes it was parsed from.
struct Message {
  uint16_t method = 0;
  Class cls = Class::kRequest;
  TransactionId transaction{};
  std::span<const uint8_t> bytes;  // the whole message
  // In order, up to and including the integrity attributes and FINGERPRINT;
  // others after MESSAGE-INTEGRITY are ignored, as RFC 8489 section 14.5 says.
  std::vector<Attribute> attributes;

  const Attribute* find(uint16_t type) const;
  bool has(uint16_t type) const { return find(type) != nullptr; }
};

// What starts a stream: a whole STUN message of `size` bytes, or (TURN,
// RFC 8656 section 12) ChannelData. kNeedMore until the header is complete.
enum class FrameKind : uint8_t { kStun, kChannelData };
struct Frame {
  FrameKind kind;
  size_t size;  // with ChannelData's padding to 4 (streams pad it)
};
Result<Frame, Error> next_frame(std::span<const uint8_t> stream);

// One whole message (a datagram, or a frame next_frame() cut). FINGERPRINT,
// when present, is checked here; MESSAGE-INTEGRITY is not (that needs a key).
Result<Message, Error> parse(std::span<const uint8_t> bytes);

// Address attributes: MAPPED-ADDRESS, OTHER-ADDRESS, RESPONSE-ORIGIN (plain)
// and XOR-MAPPED-ADDRESS (XOR'd with the cookie and transaction ID).
Result<Address, Error> read_address(std::span<const uint8_t> value);
Result<Address, Error> read_xor_address(std::span<const uint8_t> value, const TransactionId& transaction);

// MESSAGE-INTEGRITY (`sha256` false) or MESSAGE-INTEGRITY-SHA256 checked
// with `key` (short-term: the password; long-term: long_term_key()). False
// when the attribute is absent.
bool check_integrity(const Message& m, std::span<const uint8_t> key, bool sha256);

// The long-term credential key, MD5(username ":" realm ":" password)
// (RFC 8489 section 9.2.2; the password already SASLprep'd).
std::array<uint8_t, 16> long_term_key(std::string_view username, std::string_view realm, std::string_view password);

// CRC-32 (ISO-HDLC, as zlib) of `data`.
uint32_t crc32(std::span<const uint8_t> data);

// Builds one message: the header, then attributes in the order added, then
// the integrity attributes and FINGERPRINT, which cover what precedes them.
class Builder {
 public:
  Builder(uint16_t method, Class cls, const TransactionId& transaction);

  // `pad`: the byte that fills the value to a multiple of 4 (RFC 5769's samples use spaces).
  void add(uint16_t type, std::span<const uint8_t> value, uint8_t pad = 0);
  void add_string(uint16_t type, std::string_view value);
  void add_u32(uint16_t type, uint32_t value);
  void add_address(uint16_t type, const Address& a);
  void add_xor_address(uint16_t type, const Address& a);
  // ERROR-CODE: class and number from `code` (300..699), then the reason phrase.
  void add_error(int code, std::string_view reason);
  void add_unknown_attributes(std::span<const uint16_t> types);
  void add_integrity(std::span<const uint8_t> key);
  void add_integrity_sha256(std::span<const uint8_t> key);
  void add_fingerprint();

  const std::vector<uint8_t>& bytes() const { return out_; }
  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  void set_length(size_t body);
  std::vector<uint8_t> out_;
};

// The method of a message from its first two bytes (which the caller has),
// without parsing it: which server answers it (Binding or TURN).
uint16_t method_of(std::span<const uint8_t> header);

// The type field of a header, and back (method bits interleaved with the class bits).
uint16_t message_type(uint16_t method, Class cls);

}  // namespace ugate::stun

#pragma once
// DNS messages (RFC 1035, RFC 6891 EDNS0), sans-I/O: what the DNS listener
// reads from clients and upstreams and what it writes back. Reading never
// allocates for a query (the hot path of a cached answer); an upstream's
// answer is walked for what the cache needs (TTLs and where they are, the
// SOA minimum of a negative answer), without copying its records.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace ugate::dns {

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxName = 255;           // octets on the wire (RFC 1035 2.3.4)
inline constexpr uint16_t kClassicUdpSize = 512;  // a client without EDNS0
inline constexpr uint16_t kOurUdpSize = 1232;     // what we offer in OPT (the DNS flag day's size)

enum Type : uint16_t { kA = 1, kNs = 2, kCname = 5, kSoa = 6, kPtr = 12, kTxt = 16, kAaaa = 28, kOpt = 41, kAny = 255 };
enum Rcode : uint8_t { kNoError = 0, kFormErr = 1, kServFail = 2, kNxDomain = 3, kNotImp = 4, kRefused = 5 };
inline constexpr uint16_t kClassIn = 1;

enum class Error : uint8_t {
  kShort,          // ends inside the header, a name or a record
  kBadLabel,       // a label type that is neither a length nor a pointer
  kNameTooLong,    // over 255 octets
  kPointerLoop,    // a compression pointer that does not go strictly backwards, or into the header
  kNotQuery,       // QR set, or an opcode other than QUERY
  kQuestionCount,  // a query must ask exactly one question
  kBadOpt,         // OPT not in the additional section, twice, or not at the root
  kTrailing,       // bytes after the last record
  kNotResponse,    // an upstream's message without QR
};
std::string_view to_string(Error e);

struct Header {
  uint16_t id = 0;
  uint16_t flags = 0;
  uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;

  bool qr() const { return flags & 0x8000; }
  uint8_t opcode() const { return (flags >> 11) & 0xf; }
  bool tc() const { return flags & 0x0200; }
  bool rd() const { return flags & 0x0100; }
  uint8_t rcode() const { return flags & 0xf; }
};
Result<Header, Error> parse_header(std::span<const uint8_t> msg);

// A name in wire form without compression and without the root's zero
// octet, ASCII in lower case: length-prefixed labels, compared and hashed as
// bytes (text would be ambiguous: a label may hold a dot). Inline storage,
// so that reading one allocates nothing.
struct Name {
  std::array<uint8_t, kMaxName> wire{};
  uint8_t size = 0;
  std::string_view bytes() const { return {reinterpret_cast<const char*>(wire.data()), size}; }
  std::string text() const;  // "bob.mesh.internal", odd octets as \DDD (for logs)
};
// "bob.mesh.internal" (a trailing dot ignored) in the form above; nullopt for
// an empty label or one over 63 octets.
std::optional<Name> name_from_text(std::string_view text);

// Reads the name at `at` (following compression pointers; each must point
// before every octet read so far, so a loop cannot be built); `end` is
// where the name's own bytes end in the message (after its first pointer).
Result<Name, Error> read_name(std::span<const uint8_t> msg, size_t at, size_t& end);

struct Edns {
  uint16_t udp_size = kClassicUdpSize;  // at least 512 (RFC 6891 6.2.5)
  uint8_t version = 0;
  bool dnssec_ok = false;
};

// A client's query: one question, maybe an OPT record.
struct Query {
  Header header;
  Name name;
  uint16_t type = 0, klass = 0;
  size_t question_end = 0;  // the question is msg[12, question_end): answers copy it
  std::optional<Edns> edns;
  // The largest UDP answer the client takes.
  uint16_t udp_limit() const { return edns ? edns->udp_size : kClassicUdpSize; }
};
Result<Query, Error> parse_query(std::span<const uint8_t> msg);

// An upstream's answer, as much as the cache needs.
struct ResponseInfo {
  Header header;
  Name name;  // the question's
  uint16_t type = 0, klass = 0;
  size_t question_end = 0;
  // The lowest TTL of the answer and authority records (not OPT); nullopt without any.
  std::optional<uint32_t> min_ttl;
  std::optional<uint32_t> soa_minimum;  // a negative answer's: min(SOA TTL, SOA MINIMUM), RFC 2308 5
  std::vector<uint16_t> ttl_offsets;     // where each TTL is (records other than OPT), to age them
};
Result<ResponseInfo, Error> parse_response(std::span<const uint8_t> msg);

// Writers: each appends to `out` (cleared first), which the caller reuses.
// The answer header: QR, the query's ID, opcode, RD and the question copied;
// RA set (we recurse for the client); AA for our own names.
void start_answer(std::vector<uint8_t>& out, std::span<const uint8_t> query_msg, const Query& q, Rcode rcode,
                  bool authoritative);
// One record whose owner is the question's name (a pointer to it); counted in ANCOUNT.
void add_answer(std::vector<uint8_t>& out, uint16_t type, uint32_t ttl, std::span<const uint8_t> rdata);
// A SOA for `zone` in the authority section (negative answers, RFC 2308).
void add_soa(std::vector<uint8_t>& out, std::string_view zone, uint32_t ttl, uint32_t minimum);
// The OPT record of an answer to an EDNS0 query.
void add_opt(std::vector<uint8_t>& out, uint16_t udp_size);
// FORMERR with only a header: for a query whose question could not be read.
void header_only_answer(std::vector<uint8_t>& out, const Header& h, Rcode rcode);
// An answer too big for a UDP client: its header (rcode kept) and the
// question, with TC set so that the client retries over TCP; OPT when asked.
void truncate_answer(std::vector<uint8_t>& out, std::span<const uint8_t> query_msg, const Query& q);

// Big-endian helpers.
inline uint16_t get16(std::span<const uint8_t> b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
inline uint32_t get32(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint32_t>(b[at]) << 24 | static_cast<uint32_t>(b[at + 1]) << 16 | static_cast<uint32_t>(b[at + 2]) << 8 |
         b[at + 3];
}
inline void put16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8); p[1] = static_cast<uint8_t>(v); }
inline void put32(uint8_t* p, uint32_t v) { put16(p, static_cast<uint16_t>(v >> 16)); put16(p + 2, static_cast<uint16_t>(v)); }

}  // namespace ugate::dns

#include "dns/message.h"

#include <algorithm>
#include <cstdio>

namespace ugate::dns {
namespace {

constexpr size_t kMaxPointers = 64;  // far more than any real name; pointers also must go backwards

uint8_t lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c + 32) : c; }

void append16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void append32(std::vector<uint8_t>& out, uint32_t v) {
  append16(out, static_cast<uint16_t>(v >> 16));
  append16(out, static_cast<uint16_t>(v));
}
void bump(std::vector<uint8_t>& out, size_t count_at) { put16(out.data() + count_at, static_cast<uint16_t>(get16(out, count_at) + 1)); }

// A record's fixed part after its owner name: type, class, TTL, RDLENGTH.
constexpr size_t kRecordFixed = 10;

// Skips one record (its name read for loops and bounds); `at` moves past it.
Result<Header, Error> skip_record(std::span<const uint8_t> msg, size_t& at, Name& owner, uint16_t& type, size_t& fixed) {
  size_t end = 0;
  auto name = read_name(msg, at, end);
  if (!name) return name.error();
  owner = *name;
  if (end + kRecordFixed > msg.size()) return Error::kShort;
  fixed = end;
  type = get16(msg, end);
  size_t rdlength = get16(msg, end + 8);
  if (end + kRecordFixed + rdlength > msg.size()) return Error::kShort;
  at = end + kRecordFixed + rdlength;
  return Header{};
}

Edns edns_of(std::span<const uint8_t> msg, size_t fixed) {
  Edns e;
  e.udp_size = std::max(get16(msg, fixed + 2), kClassicUdpSize);
  e.version = msg[fixed + 5];
  e.dnssec_ok = msg[fixed + 6] & 0x80;
  return e;
}

}  // namespace

std::string_view to_string(Error e) {
  switch (e) {
    case Error::kShort: return "the message ends early";
    case Error::kBadLabel: return "a label of a reserved type";
    case Error::kNameTooLong: return "a name over 255 octets";
    case Error::kPointerLoop: return "a compression pointer that does not point back to an earlier name";
    case Error::kNotQuery: return "not a standard query";
    case Error::kQuestionCount: return "a query must ask exactly one question";
    case Error::kBadOpt: return "a misplaced or repeated OPT record";
    case Error::kTrailing: return "bytes after the last record";
    case Error::kNotResponse: return "not a response";
  }
  return "?";
}

std::string Name::text() const {
  std::string out;
  for (size_t i = 0; i < size;) {
    size_t len = wire[i++];
    if (!out.empty()) out += '.';
    for (size_t j = 0; j < len && i < size; ++j, ++i) {
      uint8_t c = wire[i];
      if (c > 0x20 && c < 0x7f && c != '.' && c != '\\') {
        out += static_cast<char>(c);
      } else {
        char esc[5];
        std::snprintf(esc, sizeof esc, "\\%03u", c);
        out += esc;
      }
    }
  }
  return out;
}

std::optional<Name> name_from_text(std::string_view text) {
  if (text.ends_with('.')) text.remove_suffix(1);
  Name n;
  while (!text.empty()) {
    size_t dot = text.find('.');
    std::string_view label = text.substr(0, dot);
    if (label.empty() || label.size() > 63 || n.size + 1 + label.size() > kMaxName - 1) return std::nullopt;
    n.wire[n.size++] = static_cast<uint8_t>(label.size());
    for (char c : label) n.wire[n.size++] = lower(static_cast<uint8_t>(c));
    text = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  }
  return n;
}

Result<Header, Error> parse_header(std::span<const uint8_t> msg) {
  if (msg.size() < kHeaderSize) return Error::kShort;
  return Header{get16(msg, 0), get16(msg, 2), get16(msg, 4), get16(msg, 6), get16(msg, 8), get16(msg, 10)};
}

Result<Name, Error> read_name(std::span<const uint8_t> msg, size_t at, size_t& end) {
  Name n;
  size_t lowest = at;  // a pointer must go below every octet read so far
  bool jumped = false;
  for (size_t pointers = 0;;) {
    if (at >= msg.size()) return Error::kShort;
    uint8_t len = msg[at];
    if (len == 0) {
      if (!jumped) end = at + 1;
      return n;
    }
    if ((len & 0xc0) == 0xc0) {
      if (at + 1 >= msg.size()) return Error::kShort;
      size_t target = static_cast<size_t>(len & 0x3f) << 8 | msg[at + 1];
      // Backwards, and not into the header: so the question's name has no pointer at all.
      if (target >= lowest || target < kHeaderSize || ++pointers > kMaxPointers) return Error::kPointerLoop;
      if (!jumped) end = at + 2;
      jumped = true;
      at = lowest = target;
      continue;
    }
    if (len & 0xc0) return Error::kBadLabel;  // 0x40 and 0x80: extended and reserved label types
    if (at + 1 + len > msg.size()) return Error::kShort;
    if (n.size + 1 + len > kMaxName - 1) return Error::kNameTooLong;  // and the root's octet
    n.wire[n.size++] = len;
    for (size_t i = 0; i < len; ++i) n.wire[n.size++] = lower(msg[at + 1 + i]);
    at += 1 + len;
  }
}

Result<Query, Error> parse_query(std::span<const uint8_t> msg) {
  auto h = parse_header(msg);
  if (!h) return h.error();
  Query q;
  q.header = *h;
  if (h->qr() || h->opcode() != 0) return Error::kNotQuery;
  if (h->qdcount != 1) return Error::kQuestionCount;
  size_t end = 0;
  auto name = read_name(msg, kHeaderSize, end);
  if (!name) return name.error();
  if (end + 4 > msg.size()) return Error::kShort;
  q.name = *name;
  q.type = get16(msg, end);
  q.klass = get16(msg, end + 2);
  q.question_end = end + 4;
  size_t at = q.question_end;
  const size_t records = size_t{h->ancount} + h->nscount + h->arcount;
  for (size_t i = 0; i < records; ++i) {
    Name owner;
    uint16_t type = 0;
    size_t fixed = 0;
    auto r = skip_record(msg, at, owner, type, fixed);
    if (!r) return r.error();
    if (type != kOpt) continue;
    if (i < size_t{h->ancount} + h->nscount || q.edns || owner.size != 0) return Error::kBadOpt;
    q.edns = edns_of(msg, fixed);
  }
  if (at != msg.size()) return Error::kTrailing;
  return q;
}

Result<ResponseInfo, Error> parse_response(std::span<const uint8_t> msg) {
  auto h = parse_header(msg);
  if (!h) return h.error();
  if (!h->qr()) return Error::kNotResponse;
  if (h->qdcount != 1) return Error::kQuestionCount;
  ResponseInfo info;
  info.header = *h;
  size_t end = 0;
  auto name = read_name(msg, kHeaderSize, end);
  if (!name) return name.error();
  if (end + 4 > msg.size()) return Error::kShort;
  info.name = *name;
  info.type = get16(msg, end);
  info.klass = get16(msg, end + 2);
  size_t at = info.question_end = end + 4;
  const size_t answers = size_t{h->ancount} + h->nscount;
  for (size_t i = 0; i < answers + h->arcount; ++i) {
    Name owner;
    uint16_t type = 0;
    size_t fixed = 0;
    auto r = skip_record(msg, at, owner, type, fixed);
    if (!r) return r.error();
    if (type == kOpt) {
      if (i < answers) return Error::kBadOpt;
      continue;
    }
    uint32_t ttl = get32(msg, fixed + 4);
    if (ttl & 0x80000000) ttl = 0;  // RFC 2181 8
    info.ttl_offsets.push_back(static_cast<uint16_t>(fixed + 4));
    if (i < answers) info.min_ttl = std::min(info.min_ttl.value_or(ttl), ttl);
    if (type == kSoa && i >= h->ancount && i < answers && get16(msg, fixed + 8) >= 20) {
      uint32_t minimum = get32(msg, at - 4);
      info.soa_minimum = std::min(ttl, minimum);
    }
  }
  if (at != msg.size()) return Error::kTrailing;
  return info;
}

void start_answer(std::vector<uint8_t>& out, std::span<const uint8_t> query_msg, const Query& q, Rcode rcode,
                  bool authoritative) {
  out.clear();
  append16(out, q.header.id);
  uint16_t flags = 0x8000 | (q.header.flags & 0x7900) | 0x0080 | rcode;  // QR, opcode and RD kept, RA
  if (authoritative) flags |= 0x0400;
  append16(out, flags);
  append16(out, 1);
  for (int i = 0; i < 3; ++i) append16(out, 0);
  out.insert(out.end(), query_msg.begin() + kHeaderSize, query_msg.begin() + static_cast<std::ptrdiff_t>(q.question_end));
}

void add_answer(std::vector<uint8_t>& out, uint16_t type, uint32_t ttl, std::span<const uint8_t> rdata) {
  append16(out, 0xc000 | kHeaderSize);  // the question's name
  append16(out, type);
  append16(out, kClassIn);
  append32(out, ttl);
  append16(out, static_cast<uint16_t>(rdata.size()));
  out.insert(out.end(), rdata.begin(), rdata.end());
  bump(out, 6);
}

void add_soa(std::vector<uint8_t>& out, std::string_view zone, uint32_t ttl, uint32_t minimum) {
  auto name = name_from_text(zone);
  if (!name) return;
  auto append_name = [&](std::string_view prefix) {
    if (!prefix.empty()) {
      out.push_back(static_cast<uint8_t>(prefix.size()));
      out.insert(out.end(), prefix.begin(), prefix.end());
    }
    out.insert(out.end(), name->wire.begin(), name->wire.begin() + name->size);
    out.push_back(0);
  };
  append_name("");
  append16(out, kSoa);
  append16(out, kClassIn);
  append32(out, ttl);
  size_t rdlength_at = out.size();
  append16(out, 0);
  append_name("ns");          // MNAME
  append_name("hostmaster");  // RNAME
  for (uint32_t v : {1u, 3600u, 600u, 86400u, minimum}) append32(out, v);  // serial, refresh, retry, expire, minimum
  put16(out.data() + rdlength_at, static_cast<uint16_t>(out.size() - rdlength_at - 2));
  bump(out, 8);
}

void add_opt(std::vector<uint8_t>& out, uint16_t udp_size) {
  out.push_back(0);  // the root
  append16(out, kOpt);
  append16(out, udp_size);
  append32(out, 0);  // extended rcode, version 0, flags
  append16(out, 0);
  bump(out, 10);
}

void header_only_answer(std::vector<uint8_t>& out, const Header& h, Rcode rcode) {
  out.clear();
  append16(out, h.id);
  append16(out, static_cast<uint16_t>(0x8000 | (h.flags & 0x7900) | 0x0080 | rcode));
  for (int i = 0; i < 4; ++i) append16(out, 0);
}

void truncate_answer(std::vector<uint8_t>& out, std::span<const uint8_t> query_msg, const Query& q) {
  auto rcode = static_cast<Rcode>(out.size() >= kHeaderSize ? out[3] & 0xf : kServFail);
  bool authoritative = out.size() >= kHeaderSize && (out[2] & 0x04);
  start_answer(out, query_msg, q, rcode, authoritative);
  out[2] |= 0x02;  // TC
  if (q.edns) add_opt(out, kOurUdpSize);
}

}  // namespace ugate::dns

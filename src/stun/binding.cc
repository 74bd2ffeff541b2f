#include "stun/binding.h"


#include <algorithm>

namespace ugate::stun {
namespace {

constexpr uint8_t kChangeIp = 0x04;  // CHANGE-REQUEST flags (RFC 5780 section 7.2)
constexpr uint8_t kChangePort = 0x02;

// Attributes a Binding request may carry that we understand; RFC 5780's only
// when this server has the other address to act on them.
bool known(uint16_t type, bool rfc5780) {
  switch (type) {
    case attr::kMappedAddress:
    case attr::kUsername:
    case attr::kMessageIntegrity:
    case attr::kErrorCode:
    case attr::kUnknownAttributes:
    case attr::kRealm:
    case attr::kNonce:
    case attr::kMessageIntegritySha256:
    case attr::kPasswordAlgorithm:
    case attr::kUserhash:
    case attr::kXorMappedAddress: return true;
    case attr::kChangeRequest:
    case attr::kPadding:
    case attr::kResponsePort: return rfc5780;
    default: return !comprehension_required(type);
  }
}

std::span<const uint8_t> bytes_of(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

struct Reply {
  const ServerOptions& s;
  uint16_t method;
  const TransactionId& transaction;
  std::span<const uint8_t> key;  // empty: not authenticated, no MESSAGE-INTEGRITY
  bool sha256 = false;           // the request used MESSAGE-INTEGRITY-SHA256: so does the answer

  // Integrity (when the request was authenticated) and FINGERPRINT end every answer.
  std::vector<uint8_t> finish(Builder& b) const {
    if (!key.empty()) sha256 ? b.add_integrity_sha256(key) : b.add_integrity(key);
    b.add_fingerprint();
    return b.take();
  }

  std::vector<uint8_t> error(int code, std::string_view reason, std::span<const uint16_t> unknown = {}) const {
    Builder b(method, Class::kError, transaction);
    if (!s.software.empty()) b.add_string(attr::kSoftware, s.software);
    b.add_error(code, reason);
    if (!unknown.empty()) b.add_unknown_attributes(unknown);
    return finish(b);
  }
};

Answer refuse(const Reply& reply, const Received& r, Outcome o, std::string detail,
              std::span<const uint16_t> unknown = {}) {
  static constexpr std::string_view kReasons[] = {"", "Bad Request", "Unauthorized", "Unknown Attribute"};
  Answer a{o, reply.error(answer_code(o), kReasons[static_cast<size_t>(o)], unknown), r.on, r.source, std::move(detail)};
  return a;
}

// The request's type field, when only the header could be read.
std::pair<uint16_t, Class> header_type(std::span<const uint8_t> bytes) {
  uint16_t t = static_cast<uint16_t>(bytes[0] << 8 | bytes[1]);
  return {method_of(bytes), static_cast<Class>((t >> 4 & 1) | (t >> 7 & 2))};
}

}  // namespace

std::string_view to_string(Transport t) { return t == Transport::kTcp ? "tcp" : "udp"; }

std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::kSuccess: return "success";
    case Outcome::kBadRequest: return "bad_request";
    case Outcome::kUnauthorized: return "unauthorized";
    case Outcome::kUnknownAttribute: return "unknown_attribute";
    case Outcome::kNotStun: return "not_stun";
    case Outcome::kBadFingerprint: return "bad_fingerprint";
    case Outcome::kNotRequest: return "not_request";
    case Outcome::kCount: break;
  }
  return "unknown";
}

int answer_code(Outcome o) {
  switch (o) {
    case Outcome::kBadRequest: return 400;
    case Outcome::kUnauthorized: return 401;
    case Outcome::kUnknownAttribute: return 420;
    default: return 0;
  }
}

Address origin_address(const ServerOptions& s, Origin o) {
  if (!s.other) return s.primary;
  Address a = (o & kOtherIp) ? *s.other : s.primary;
  a.port = (o & kOtherPort) ? s.other->port : s.primary.port;
  return a;
}

Answer answer(const ServerOptions& s, const Received& r) {
  auto parsed = parse(r.bytes);
  if (!parsed) {
    Error e = parsed.error();
    if (e == Error::kNotStun || e == Error::kLengthMismatch) return {Outcome::kNotStun, {}, r.on, r.source, std::string(to_string(e))};
    if (e == Error::kBadFingerprint) return {Outcome::kBadFingerprint, {}, r.on, r.source, std::string(to_string(e))};
    // The header was sound: a request gets its 400, anything else is dropped.
    auto [request_method, cls] = header_type(r.bytes);
    TransactionId transaction{};
    std::copy_n(r.bytes.begin() + 8, 12, transaction.begin());
    if (cls != Class::kRequest) return {Outcome::kNotRequest, {}, r.on, r.source, std::string(to_string(e))};
    return refuse(Reply{s, request_method, transaction, {}}, r, Outcome::kBadRequest, std::string(to_string(e)));
  }
  const Message& m = *parsed;
  if (m.cls != Class::kRequest) return {Outcome::kNotRequest, {}, r.on, r.source, "not a request"};
  Reply reply{s, m.method, m.transaction, {}};
  if (m.method != method::kBinding) return refuse(reply, r, Outcome::kBadRequest, "unknown method");

  // Short-term credentials (RFC 8489 section 9.1.3): both a USERNAME and an
  // integrity attribute, or 400; a known user and the right HMAC, or 401.
  if (!s.users.empty()) {
    const Attribute* username = m.find(attr::kUsername);
    bool sha256 = m.has(attr::kMessageIntegritySha256);
    if (!username || (!sha256 && !m.has(attr::kMessageIntegrity)))
      return refuse(reply, r, Outcome::kBadRequest, "no USERNAME or MESSAGE-INTEGRITY");
    std::string_view name(reinterpret_cast<const char*>(username->value.data()), username->value.size());
    auto user = std::find_if(s.users.begin(), s.users.end(), [&](const ShortTermUser& u) { return u.username == name; });
    if (user == s.users.end()) return refuse(reply, r, Outcome::kUnauthorized, "unknown username");
    if (!check_integrity(m, bytes_of(user->password), sha256))
      return refuse(reply, r, Outcome::kUnauthorized, "wrong MESSAGE-INTEGRITY");
    reply.key = bytes_of(user->password);
    reply.sha256 = sha256;
  }

  std::vector<uint16_t> unknown;
  for (const auto& a : m.attributes)
    if (!known(a.type, s.other.has_value()) && std::find(unknown.begin(), unknown.end(), a.type) == unknown.end())
      unknown.push_back(a.type);
  if (!unknown.empty()) return refuse(reply, r, Outcome::kUnknownAttribute, "unknown comprehension-required attribute", unknown);

  // RFC 5780: answer from another address and/or port, or to another port.
  Answer out{Outcome::kSuccess, {}, r.on, r.source, {}};
  size_t padding = 0;
  if (s.other) {
    if (const Attribute* change = m.find(attr::kChangeRequest)) {
      if (change->value.size() != 4) return refuse(reply, r, Outcome::kBadRequest, "malformed CHANGE-REQUEST");
      uint8_t flags = change->value[3];
      if ((flags & (kChangeIp | kChangePort)) && r.transport == Transport::kTcp)
        return refuse(reply, r, Outcome::kBadRequest, "CHANGE-REQUEST over TCP");  // one connection, one address
      if (flags & kChangeIp) out.from ^= kOtherIp;
      if (flags & kChangePort) out.from ^= kOtherPort;
    }
    if (const Attribute* port = m.find(attr::kResponsePort)) {
      if (port->value.size() != 4) return refuse(reply, r, Outcome::kBadRequest, "malformed RESPONSE-PORT");
      if (r.transport == Transport::kTcp) return refuse(reply, r, Outcome::kBadRequest, "RESPONSE-PORT over TCP");
      out.to.port = static_cast<uint16_t>(port->value[0] << 8 | port->value[1]);
      if (out.to.port == 0) return refuse(reply, r, Outcome::kBadRequest, "RESPONSE-PORT 0");
    }
    if (const Attribute* pad = m.find(attr::kPadding)) padding = pad->value.size();
  }

  Builder b(method::kBinding, Class::kSuccess, m.transaction);
  if (!s.software.empty()) b.add_string(attr::kSoftware, s.software);
  b.add_xor_address(attr::kXorMappedAddress, r.source);
  if (s.other) {
    b.add_address(attr::kResponseOrigin, origin_address(s, out.from));
    b.add_address(attr::kOtherAddress, origin_address(s, static_cast<Origin>(r.on ^ (kOtherIp | kOtherPort))));
    if (padding) b.add(attr::kPadding, std::vector<uint8_t>(padding, 0));  // as large as the request's (section 7.6)
  }
  out.bytes = reply.finish(b);
  return out;
}

}  // namespace ugate::stun

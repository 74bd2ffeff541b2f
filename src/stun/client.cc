#include "stun/client.h"

#include <openssl/rand.h>

#include "stun/turn_auth.h"

namespace ugate::stun {
namespace {

constexpr uint8_t kChangeIp = 0x04;  // CHANGE-REQUEST flags (RFC 5780 section 7.2)
constexpr uint8_t kChangePort = 0x02;
constexpr uint8_t kUdp = 17;  // REQUESTED-TRANSPORT's protocol number

bool is_answer(const Message& m) { return m.cls == Class::kSuccess || m.cls == Class::kError; }

std::optional<Address> xor_address_of(const Message& m, uint16_t type) {
  const Attribute* a = m.find(type);
  if (!a) return std::nullopt;
  auto r = read_xor_address(a->value, m.transaction);
  if (!r) return std::nullopt;
  return *r;
}

std::optional<Address> address_of(const Message& m, uint16_t type) {
  const Attribute* a = m.find(type);
  if (!a) return std::nullopt;
  auto r = read_address(a->value);
  if (!r) return std::nullopt;
  return *r;
}

std::optional<uint32_t> u32_of(const Message& m, uint16_t type) {
  const Attribute* a = m.find(type);
  if (!a || a->value.size() != 4) return std::nullopt;
  const auto& v = a->value;
  return uint32_t{v[0]} << 24 | uint32_t{v[1]} << 16 | uint32_t{v[2]} << 8 | v[3];
}

std::string string_of(const Attribute* a) {
  return a ? std::string(a->value.begin(), a->value.end()) : std::string();
}

}  // namespace

Transaction::Transaction(std::vector<uint8_t> request, bool reliable, RetransmitPolicy p, ClientClock::time_point now)
    : request_(std::move(request)), policy_(p), reliable_(reliable), interval_(p.rto) {
  // The whole span over UDP: RTO x (2^(Rc-1) - 1) until the last send, then Rm x RTO.
  auto span = p.rto * ((1 << (p.rc - 1)) - 1) + p.rto * p.rm;
  if (reliable_) deadline_ = now + span;
  else deadline_ = now + (p.rc <= 1 ? p.rto * p.rm : p.rto);
}

TransactionId Transaction::id() const {
  TransactionId t{};
  if (request_.size() >= kHeaderSize) std::copy(request_.begin() + 8, request_.begin() + 20, t.begin());
  return t;
}

Transaction::Tick Transaction::on_timer(ClientClock::time_point now) {
  if (now < deadline_) return Tick::kWait;
  if (reliable_ || sends_ >= policy_.rc) return Tick::kTimedOut;
  ++sends_;
  if (sends_ == policy_.rc) {
    deadline_ += policy_.rto * policy_.rm;
  } else {
    interval_ *= 2;
    deadline_ += interval_;
  }
  return Tick::kResend;
}

bool Transaction::answered_by(const Message& m) const {
  return is_answer(m) && m.transaction == id() && request_.size() >= 2 &&
         m.method == method_of(std::span<const uint8_t>(request_).first(2));
}

TransactionId random_transaction() {
  TransactionId t{};
  if (RAND_bytes(t.data(), static_cast<int>(t.size())) != 1) {
    // Only a predictable ID, never a fixed one: the clock's low bits.
    auto n = static_cast<uint64_t>(ClientClock::now().time_since_epoch().count());
    for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<uint8_t>(n >> (8 * (i % 8)));
  }
  return t;
}

std::vector<uint8_t> binding_request(const TransactionId& t, bool change_ip, bool change_port) {
  Builder b(method::kBinding, Class::kRequest, t);
  if (change_ip || change_port)
    b.add_u32(attr::kChangeRequest, (change_ip ? kChangeIp : 0) | (change_port ? kChangePort : 0));
  b.add_fingerprint();
  return b.take();
}

std::string_view to_string(ClientError e) {
  switch (e) {
    case ClientError::kNotAnswer: return "not an answer to the request";
    case ClientError::kErrorAnswer: return "an error answer";
    case ClientError::kNoAddress: return "an answer without its address";
    case ClientError::kBadIntegrity: return "an answer whose MESSAGE-INTEGRITY is wrong";
    case ClientError::kCount: break;
  }
  return "?";
}

Result<BindingAnswer, ClientError> read_binding_answer(const Message& m) {
  if (m.method != method::kBinding || !is_answer(m)) return ClientError::kNotAnswer;
  if (m.cls == Class::kError) return ClientError::kErrorAnswer;
  BindingAnswer a;
  if (auto x = xor_address_of(m, attr::kXorMappedAddress)) a.mapped = *x;
  else if (auto plain = address_of(m, attr::kMappedAddress)) a.mapped = *plain;
  else return ClientError::kNoAddress;
  a.other = address_of(m, attr::kOtherAddress);
  a.response_origin = address_of(m, attr::kResponseOrigin);
  return a;
}

std::optional<ErrorCode> read_error_code(const Message& m) {
  const Attribute* a = m.find(attr::kErrorCode);
  if (!a || a->value.size() < 4) return std::nullopt;
  int code = (a->value[2] & 0x07) * 100 + a->value[3];
  if (code < 300 || code > 699) return std::nullopt;
  return ErrorCode{code, std::string(a->value.begin() + 4, a->value.end())};
}

std::string_view to_string(Mapping m) {
  switch (m) {
    case Mapping::kUnknown: return "unknown";
    case Mapping::kEndpointIndependent: return "endpoint-independent";
    case Mapping::kAddressDependent: return "address-dependent";
    case Mapping::kAddressAndPortDependent: return "address-and-port-dependent";
  }
  return "unknown";
}

Mapping classify_mapping(const Address& test1, const std::optional<Address>& test2,
                         const std::optional<Address>& test3) {
  if (!test2) return Mapping::kUnknown;
  if (*test2 == test1) return Mapping::kEndpointIndependent;
  if (!test3) return Mapping::kUnknown;
  return *test3 == *test2 ? Mapping::kAddressDependent : Mapping::kAddressAndPortDependent;
}

TurnCredentials rest_credentials(std::string_view secret, std::string_view user, uint64_t now_unix, uint64_t ttl_s) {
  TurnCredentials c;
  c.username = std::to_string(now_unix + ttl_s) + ":" + std::string(user);
  c.password = rest_password(secret, c.username);
  return c;
}

TurnClient::TurnClient(TurnCredentials c, std::string software)
    : credentials_(std::move(c)), software_(std::move(software)) {}

std::vector<uint8_t> TurnClient::build(const TransactionId& t) {
  pending_.transaction = t;
  Builder b(pending_.method, Class::kRequest, t);
  for (const Attr& a : pending_.attributes) {
    if (a.xor_address) b.add_xor_address(a.type, *a.xor_address);
    else b.add(a.type, a.value);
  }
  if (!software_.empty()) b.add_string(attr::kSoftware, software_);
  pending_.signed_ = !realm_.empty();
  if (pending_.signed_) {
    b.add_string(attr::kUsername, credentials_.username);
    b.add_string(attr::kRealm, realm_);
    b.add_string(attr::kNonce, nonce_);
    b.add_integrity(key_);
  }
  b.add_fingerprint();
  return b.take();
}

std::vector<uint8_t> TurnClient::start(uint16_t method, const TransactionId& t, std::vector<Attr> attributes) {
  pending_ = Pending{method, std::move(attributes)};
  return build(t);
}

std::vector<uint8_t> TurnClient::retry(const TransactionId& t) { return build(t); }

std::vector<uint8_t> TurnClient::allocate(const TransactionId& t, uint32_t lifetime_s) {
  std::vector<Attr> a;
  a.push_back({attr::kRequestedTransport, {kUdp, 0, 0, 0}, std::nullopt});
  a.push_back({attr::kLifetime, {uint8_t(lifetime_s >> 24), uint8_t(lifetime_s >> 16), uint8_t(lifetime_s >> 8),
                                 uint8_t(lifetime_s)}, std::nullopt});
  return start(method::kAllocate, t, std::move(a));
}

std::vector<uint8_t> TurnClient::refresh(const TransactionId& t, uint32_t lifetime_s) {
  std::vector<Attr> a;
  a.push_back({attr::kLifetime, {uint8_t(lifetime_s >> 24), uint8_t(lifetime_s >> 16), uint8_t(lifetime_s >> 8),
                                 uint8_t(lifetime_s)}, std::nullopt});
  return start(method::kRefresh, t, std::move(a));
}

std::vector<uint8_t> TurnClient::create_permission(const TransactionId& t, std::span<const Address> peers) {
  std::vector<Attr> a;
  for (const Address& p : peers) a.push_back({attr::kXorPeerAddress, {}, p});
  return start(method::kCreatePermission, t, std::move(a));
}

std::vector<uint8_t> TurnClient::channel_bind(const TransactionId& t, uint16_t channel, const Address& peer) {
  std::vector<Attr> a;
  a.push_back({attr::kChannelNumber, {uint8_t(channel >> 8), uint8_t(channel), 0, 0}, std::nullopt});
  a.push_back({attr::kXorPeerAddress, {}, peer});
  return start(method::kChannelBind, t, std::move(a));
}

std::vector<uint8_t> TurnClient::send_indication(const TransactionId& t, const Address& peer,
                                                 std::span<const uint8_t> data) {
  Builder b(method::kSend, Class::kIndication, t);
  b.add_xor_address(attr::kXorPeerAddress, peer);
  b.add(attr::kData, data);
  return b.take();
}

std::vector<uint8_t> TurnClient::channel_data(uint16_t channel, std::span<const uint8_t> data, bool stream) {
  const size_t size = 4 + data.size();
  std::vector<uint8_t> out(stream ? (size + 3) & ~size_t{3} : size, 0);
  out[0] = uint8_t(channel >> 8);
  out[1] = uint8_t(channel);
  out[2] = uint8_t(data.size() >> 8);
  out[3] = uint8_t(data.size());
  std::copy(data.begin(), data.end(), out.begin() + 4);
  return out;
}

TurnClient::Answer TurnClient::on_answer(const Message& m) {
  if (!is_answer(m) || m.method != pending_.method || m.transaction != pending_.transaction)
    return {Outcome::kFailed, 0, std::string(to_string(ClientError::kNotAnswer))};
  if (m.cls == Class::kError) {
    auto e = read_error_code(m);
    if (!e) return {Outcome::kFailed, 0, "an error answer without a valid ERROR-CODE"};
    const Attribute* realm = m.find(attr::kRealm);
    const Attribute* nonce = m.find(attr::kNonce);
    // The first 401 is the challenge (RFC 8489 section 9.2.3); one after signing is a wrong password.
    if (e->code == 401 && !pending_.signed_ && realm && nonce) {
      realm_ = string_of(realm);
      nonce_ = string_of(nonce);
      key_ = long_term_key(credentials_.username, realm_, credentials_.password);
      ++pending_.retries;
      return {Outcome::kRetry, 401, e->reason};
    }
    // 438 Stale Nonce: once with the fresh one (section 9.2.5); twice in a row is the server's problem.
    if (e->code == 438 && nonce && pending_.retries < 2) {
      nonce_ = string_of(nonce);
      if (realm) realm_ = string_of(realm);
      key_ = long_term_key(credentials_.username, realm_, credentials_.password);
      ++pending_.retries;
      return {Outcome::kRetry, 438, e->reason};
    }
    std::string why = std::to_string(e->code) + " " + e->reason;
    if (e->code == 401) why += " (wrong username or password)";
    return {Outcome::kFailed, e->code, why};
  }
  if (pending_.signed_ && !check_integrity(m, key_, false))
    return {Outcome::kFailed, 0, std::string(to_string(ClientError::kBadIntegrity))};
  pending_.retries = 0;
  if (m.method == method::kAllocate) {
    relayed_ = xor_address_of(m, attr::kXorRelayedAddress);
    mapped_ = xor_address_of(m, attr::kXorMappedAddress);
    if (!relayed_) return {Outcome::kFailed, 0, "an Allocate answer without XOR-RELAYED-ADDRESS"};
  }
  if (m.method == method::kAllocate || m.method == method::kRefresh) lifetime_ = u32_of(m, attr::kLifetime).value_or(0);
  return {Outcome::kSuccess, 0, {}};
}

std::optional<PeerData> read_data_indication(const Message& m) {
  if (m.method != method::kData || m.cls != Class::kIndication) return std::nullopt;
  auto peer = xor_address_of(m, attr::kXorPeerAddress);
  const Attribute* data = m.find(attr::kData);
  if (!peer || !data) return std::nullopt;
  return PeerData{*peer, data->value};
}

}  // namespace ugate::stun

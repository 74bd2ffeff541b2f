#include "stun/turn.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>

namespace ugate::stun {
namespace {

constexpr uint8_t kUdpProtocol = 17;  // REQUESTED-TRANSPORT's value for UDP

std::string_view text(std::span<const uint8_t> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// Attributes a TURN request may carry that this server acts on or may ignore.
// EVEN-PORT is (without the reservation of the next port: 508); RESERVATION-TOKEN
// and DONT-FRAGMENT are not supported: 420, as RFC 8656 says for a server without them.
bool known(uint16_t type) {
  switch (type) {
    case attr::kUsername:
    case attr::kMessageIntegrity:
    case attr::kMessageIntegritySha256:
    case attr::kRealm:
    case attr::kNonce:
    case attr::kChannelNumber:
    case attr::kLifetime:
    case attr::kXorPeerAddress:
    case attr::kData:
    case attr::kRequestedAddressFamily:
    case attr::kRequestedTransport:
    case attr::kEvenPort:
    case attr::kPasswordAlgorithm:
    case attr::kUserhash: return true;
    default: return !comprehension_required(type);
  }
}

std::string_view reason(Refusal r) {
  switch (r) {
    case Refusal::k400: return "Bad Request";
    case Refusal::k401: return "Unauthorized";
    case Refusal::k403: return "Forbidden";
    case Refusal::k420: return "Unknown Attribute";
    case Refusal::k437: return "Allocation Mismatch";
    case Refusal::k438: return "Stale Nonce";
    case Refusal::k440: return "Address Family not Supported";
    case Refusal::k441: return "Wrong Credentials";
    case Refusal::k442: return "Unsupported Transport Protocol";
    case Refusal::k443: return "Peer Address Family Mismatch";
    case Refusal::k486: return "Allocation Quota Reached";
    case Refusal::k508: return "Insufficient Capacity";
    case Refusal::kCount: break;
  }
  return "";
}

uint32_t u32(std::span<const uint8_t> v) {
  return static_cast<uint32_t>(v[0]) << 24 | static_cast<uint32_t>(v[1]) << 16 | static_cast<uint32_t>(v[2]) << 8 | v[3];
}

boost::asio::ip::address to_ip(const Address& a) {
  if (a.family == 1) return boost::asio::ip::address_v4(boost::asio::ip::address_v4::bytes_type{a.ip[0], a.ip[1], a.ip[2], a.ip[3]});
  boost::asio::ip::address_v6::bytes_type b;
  std::copy_n(a.ip.begin(), 16, b.begin());
  return boost::asio::ip::address_v6(b);
}

}  // namespace

int code_of(Refusal r) {
  static constexpr int kCodes[] = {400, 401, 403, 420, 437, 438, 440, 441, 442, 443, 486, 508};
  return kCodes[static_cast<size_t>(r)];
}

std::string_view to_string(TurnDrop d) {
  switch (d) {
    case TurnDrop::kMalformed: return "malformed";
    case TurnDrop::kNoAllocation: return "no_allocation";
    case TurnDrop::kNoPermission: return "no_permission";
    case TurnDrop::kNoChannel: return "no_channel";
    case TurnDrop::kBandwidth: return "bandwidth";
    case TurnDrop::kSendFailed: return "send_failed";
    case TurnDrop::kCount: break;
  }
  return "unknown";
}

TurnShared::TurnShared(const TurnConfig& c, Address relay, PeerPolicy p, std::string sw)
    : config(c), auth(c, [] {
        std::vector<uint8_t> secret(32);
        std::random_device rd;
        for (auto& b : secret) b = static_cast<uint8_t>(rd());
        return secret;
      }()),
      peers(std::move(p)), relay_ip(relay), software(std::move(sw)) {}

bool TurnShared::reserve(const std::string& user) {
  std::lock_guard lock(mutex_);
  uint32_t& mine = per_user_[user];
  if (total_ >= config.max_allocations || mine >= config.max_allocations_per_user) {
    if (mine == 0) per_user_.erase(user);
    return false;
  }
  ++total_;
  ++mine;
  return true;
}

void TurnShared::release(const std::string& user) {
  std::lock_guard lock(mutex_);
  --total_;
  if (auto it = per_user_.find(user); it != per_user_.end() && --it->second == 0) per_user_.erase(it);
}

bool for_turn(std::span<const uint8_t> b) {
  if (b.size() >= 4 && (b[0] & 0xC0) == 0x40) return true;  // ChannelData: 0x4000-0x7FFF (RFC 5766 range, see allocation.h)
  return b.size() >= kHeaderSize && (b[0] & 0xC0) == 0 && u32(b.subspan(4, 4)) == kMagicCookie &&
         method_of(b) != method::kBinding;
}

// One authenticated (or about to be) request and what answers it.
struct TurnServer::Request {
  const ClientKey& client;
  const Message& m;
  uint64_t now_ms;
  Allocation* allocation;
  std::string username;
  LongTermKey key{};
};

TurnServer::TurnServer(TurnShared& shared, TurnCounters& counters, OpenRelay open_relay, ToClient to_client)
    : shared_(shared), counters_(counters), open_relay_(std::move(open_relay)), to_client_(std::move(to_client)) {}

TurnServer::~TurnServer() { clear(); }

const Allocation* TurnServer::find(const ClientKey& client) const {
  auto it = by_client_.find(client);
  return it == by_client_.end() ? nullptr : it->second.get();
}

TurnResult TurnServer::dropped(TurnDrop d, std::string detail) {
  counters_.drops[static_cast<size_t>(d)].add();
  return {TurnResult::kDropped, Refusal::k400, d, std::move(detail)};
}

TurnResult TurnServer::from_client(const ClientKey& client, std::span<const uint8_t> bytes, uint64_t now_ms,
                                   uint64_t wall_ms) {
  if (bytes.size() >= 4 && (bytes[0] & 0xC0) == 0x40) return channel_data(client, bytes, now_ms);
  auto parsed = parse(bytes);
  if (!parsed) {
    Error e = parsed.error();
    bool sound_request = e != Error::kNotStun && e != Error::kLengthMismatch && e != Error::kBadFingerprint &&
                         (bytes[0] & 0x01) == 0 && (bytes[1] & 0x10) == 0;
    if (!sound_request) return dropped(TurnDrop::kMalformed, std::string(to_string(e)));
    // The header was sound and names a request: it gets its 400 (no MESSAGE-INTEGRITY: nothing was checked).
    Message header;
    header.method = method_of(bytes);
    std::copy_n(bytes.begin() + 8, 12, header.transaction.begin());
    return challenge(client, header, Refusal::k400, std::string(to_string(e)), now_ms);
  }
  const Message& m = *parsed;
  if (m.cls == Class::kIndication && m.method == method::kSend) return send_indication(client, m, now_ms);
  if (m.cls != Class::kRequest) return dropped(TurnDrop::kMalformed, "not a request");
  return request(client, m, now_ms, wall_ms);
}

// RFC 8656 section 12.6: ChannelData on a bound channel goes to its peer.
TurnResult TurnServer::channel_data(const ClientKey& client, std::span<const uint8_t> bytes, uint64_t now_ms) {
  uint16_t number = static_cast<uint16_t>(bytes[0] << 8 | bytes[1]);
  size_t length = static_cast<size_t>(bytes[2] << 8 | bytes[3]);
  if (bytes.size() < 4 + length) return dropped(TurnDrop::kMalformed, "truncated ChannelData");
  auto it = by_client_.find(client);
  if (it == by_client_.end()) return dropped(TurnDrop::kNoAllocation, "ChannelData without an allocation");
  Allocation& a = *it->second;
  const Channel* c = a.channel(number, now_ms);
  if (!c) return dropped(TurnDrop::kNoChannel, "ChannelData on a channel not bound");
  Address peer = c->peer;
  return relay_to_peer(a, peer, bytes.subspan(4, length), now_ms);
}

// Section 11.2: Send indications are not authenticated; a peer without a permission is dropped silently.
TurnResult TurnServer::send_indication(const ClientKey& client, const Message& m, uint64_t now_ms) {
  auto it = by_client_.find(client);
  if (it == by_client_.end()) return dropped(TurnDrop::kNoAllocation, "Send indication without an allocation");
  const Attribute* peer_attr = m.find(attr::kXorPeerAddress);
  const Attribute* data = m.find(attr::kData);
  if (!peer_attr || !data) return dropped(TurnDrop::kMalformed, "Send indication without XOR-PEER-ADDRESS or DATA");
  auto peer = read_xor_address(peer_attr->value, m.transaction);
  if (!peer) return dropped(TurnDrop::kMalformed, "Send indication with a malformed XOR-PEER-ADDRESS");
  return relay_to_peer(*it->second, *peer, data->value, now_ms);
}

TurnResult TurnServer::relay_to_peer(Allocation& a, const Address& peer, std::span<const uint8_t> bytes, uint64_t now_ms) {
  if (!a.permitted(peer, now_ms)) return dropped(TurnDrop::kNoPermission, "to a peer without a permission");
  if (!a.to_peer.take(bytes.size(), now_ms)) return dropped(TurnDrop::kBandwidth, "over the allocation's bandwidth");
  if (!a.relay->send(peer, bytes)) return dropped(TurnDrop::kSendFailed, "the relay socket refused it");
  counters_.bytes[static_cast<size_t>(Direction::kToPeer)].add(bytes.size());
  counters_.packets[static_cast<size_t>(Direction::kToPeer)].add();
  return {TurnResult::kRelayed, {}, {}, {}};
}

void TurnServer::from_peer(uint64_t id, const Address& peer, std::span<const uint8_t> bytes, uint64_t now_ms) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  Allocation& a = *it->second;
  if (!a.permitted(peer, now_ms)) return void(dropped(TurnDrop::kNoPermission, {}));
  if (!a.to_client.take(bytes.size(), now_ms)) return void(dropped(TurnDrop::kBandwidth, {}));
  std::vector<uint8_t> out;
  if (const Channel* c = a.channel_to(peer, now_ms)) {
    // Over TCP ChannelData is padded to 4 bytes (section 12.5); over UDP it need not be.
    size_t pad = a.client.transport == Transport::kTcp ? (4 - bytes.size() % 4) % 4 : 0;
    out.reserve(4 + bytes.size() + pad);
    out = {static_cast<uint8_t>(c->number >> 8), static_cast<uint8_t>(c->number),
           static_cast<uint8_t>(bytes.size() >> 8), static_cast<uint8_t>(bytes.size())};
    out.insert(out.end(), bytes.begin(), bytes.end());
    out.resize(out.size() + pad, 0);
  } else {
    TransactionId t{};  // an indication's ID need only differ from the last ones: a counter will do
    ++indications_;
    for (size_t i = 0; i < 8; ++i) t[4 + i] = static_cast<uint8_t>(indications_ >> (8 * i));
    Builder b(method::kData, Class::kIndication, t);
    b.add_xor_address(attr::kXorPeerAddress, peer);
    b.add(attr::kData, bytes);
    out = b.take();
  }
  if (!to_client_(a.client, out)) return void(dropped(TurnDrop::kSendFailed, {}));
  counters_.bytes[static_cast<size_t>(Direction::kToClient)].add(bytes.size());
  counters_.packets[static_cast<size_t>(Direction::kToClient)].add();
}

// Answers without MESSAGE-INTEGRITY: 401 and 438 carry REALM and a fresh NONCE
// (RFC 8489 section 9.2.4); a 400 before any check carries neither.
TurnResult TurnServer::challenge(const ClientKey& client, const Message& m, Refusal code, std::string detail,
                                 uint64_t now_ms) {
  Builder b(m.method, Class::kError, m.transaction);
  if (!shared_.software.empty()) b.add_string(attr::kSoftware, shared_.software);
  b.add_error(code_of(code), reason(code));
  if (code != Refusal::k400) {
    b.add_string(attr::kRealm, shared_.auth.realm());
    b.add_string(attr::kNonce, shared_.auth.make_nonce(now_ms));
  }
  b.add_fingerprint();
  counters_.refusals[static_cast<size_t>(code)].add();
  to_client_(client, b.bytes());
  return {TurnResult::kRefused, code, {}, std::move(detail)};
}

// An error answer to an authenticated request, with MESSAGE-INTEGRITY.
TurnResult TurnServer::refuse(Request& r, Refusal code, std::string detail, std::span<const uint16_t> unknown) {
  Builder b(r.m.method, Class::kError, r.m.transaction);
  if (!shared_.software.empty()) b.add_string(attr::kSoftware, shared_.software);
  b.add_error(code_of(code), reason(code));
  if (!unknown.empty()) b.add_unknown_attributes(unknown);
  b.add_integrity(r.key);
  b.add_fingerprint();
  counters_.refusals[static_cast<size_t>(code)].add();
  to_client_(r.client, b.bytes());
  return {TurnResult::kRefused, code, {}, std::move(detail)};
}

// A success answer: SOFTWARE, the method's attributes, MESSAGE-INTEGRITY, FINGERPRINT.
TurnResult TurnServer::succeed(Request& r, const std::function<void(Builder&)>& attributes) {
  Builder b(r.m.method, Class::kSuccess, r.m.transaction);
  if (!shared_.software.empty()) b.add_string(attr::kSoftware, shared_.software);
  if (attributes) attributes(b);
  b.add_integrity(r.key);
  b.add_fingerprint();
  to_client_(r.client, b.bytes());
  return {TurnResult::kAnswered, {}, {}, {}};
}

TurnResult TurnServer::request(const ClientKey& client, const Message& m, uint64_t now_ms, uint64_t wall_ms) {
  switch (m.method) {
    case method::kAllocate:
    case method::kRefresh:
    case method::kCreatePermission:
    case method::kChannelBind: break;
    default: return challenge(client, m, Refusal::k400, "unknown method", now_ms);
  }
  // Long-term credentials (RFC 8489 section 9.2.4), in the RFC's order.
  const Attribute* integrity = m.find(attr::kMessageIntegrity);
  if (!integrity) return challenge(client, m, Refusal::k401, "no MESSAGE-INTEGRITY (the first request)", now_ms);
  const Attribute* username = m.find(attr::kUsername);
  const Attribute* realm = m.find(attr::kRealm);
  const Attribute* nonce = m.find(attr::kNonce);
  if (!username || !realm || !nonce) return challenge(client, m, Refusal::k400, "no USERNAME, REALM or NONCE", now_ms);
  if (shared_.auth.check_nonce(text(nonce->value), now_ms) != NonceState::kValid)
    return challenge(client, m, Refusal::k438, "stale or unknown NONCE", now_ms);
  Request r{client, m, now_ms, nullptr, std::string(text(username->value)), {}};
  auto key = shared_.auth.key(r.username, wall_ms);
  if (!key) return challenge(client, m, Refusal::k401, "unknown or expired username", now_ms);
  if (text(realm->value) != shared_.auth.realm() || !check_integrity(m, *key, false))
    return challenge(client, m, Refusal::k401, "wrong MESSAGE-INTEGRITY", now_ms);
  r.key = *key;
  if (auto it = by_client_.find(client); it != by_client_.end()) r.allocation = it->second.get();
  if (r.allocation && r.allocation->username != r.username)
    return refuse(r, Refusal::k441, "another user's allocation");

  std::vector<uint16_t> unknown;
  for (const auto& a : m.attributes)
    if (!known(a.type) && std::find(unknown.begin(), unknown.end(), a.type) == unknown.end()) unknown.push_back(a.type);
  if (!unknown.empty()) {
    std::string types;
    for (uint16_t t : unknown) types += fmt::format(" 0x{:04X}", t);
    return refuse(r, Refusal::k420, "unknown comprehension-required attribute" + types, unknown);
  }

  switch (m.method) {
    case method::kAllocate: return allocate(r);
    case method::kRefresh: return refresh(r);
    case method::kCreatePermission: return create_permission(r);
    default: return channel_bind(r);
  }
}

// Section 7.2: the lifetime asked (or the default), at most the maximum;
// an Allocate asking for less than the default gets the default.
uint32_t TurnServer::lifetime_s(const Message& m, bool allocate) const {
  const auto default_s = static_cast<uint32_t>(shared_.config.default_lifetime.count() / 1000);
  const auto max_s = static_cast<uint32_t>(shared_.config.max_lifetime.count() / 1000);
  uint32_t asked = default_s;
  if (const Attribute* l = m.find(attr::kLifetime); l && l->value.size() == 4) asked = u32(l->value);
  if (allocate) asked = std::max(asked, default_s);
  return std::min(asked, max_s);
}

TurnResult TurnServer::allocate(Request& r) {
  const Message& m = r.m;
  if (r.allocation) {
    if (r.allocation->transaction != m.transaction) return refuse(r, Refusal::k437, "the 5-tuple has an allocation");
  } else {
    const Attribute* transport = m.find(attr::kRequestedTransport);
    if (!transport || transport->value.size() != 4) return refuse(r, Refusal::k400, "no REQUESTED-TRANSPORT");
    if (transport->value[0] != kUdpProtocol) return refuse(r, Refusal::k442, "REQUESTED-TRANSPORT not UDP");
    if (const Attribute* f = m.find(attr::kRequestedAddressFamily)) {
      if (f->value.size() != 4) return refuse(r, Refusal::k400, "malformed REQUESTED-ADDRESS-FAMILY");
      if (f->value[0] != shared_.relay_ip.family) return refuse(r, Refusal::k440, "no relay address of that family");
    }
    const Attribute* even = m.find(attr::kEvenPort);
    if (even && even->value.size() != 1) return refuse(r, Refusal::k400, "malformed EVEN-PORT");
    if (even && (even->value[0] & 0x80)) return refuse(r, Refusal::k508, "EVEN-PORT asks to reserve the next port");
    if (!shared_.reserve(r.username)) return refuse(r, Refusal::k486, "allocation quota reached");
    auto a = std::make_unique<Allocation>();
    a->id = next_id_++;
    a->relay = open_relay_(a->id, even != nullptr);
    if (!a->relay) {
      shared_.release(r.username);
      return refuse(r, Refusal::k508, "no relay port free");
    }
    a->client = r.client;
    a->username = r.username;
    a->key = r.key;
    a->transaction = m.transaction;
    a->to_peer = a->to_client = TokenBucket(shared_.config.bandwidth);
    r.allocation = a.get();
    by_id_[a->id] = a.get();
    by_client_[r.client] = std::move(a);
    counters_.allocations.add();
    r.allocation->lifetime_s = lifetime_s(m, true);
    r.allocation->expires_ms = r.now_ms + uint64_t{r.allocation->lifetime_s} * 1000;
  }
  return succeed(r, [&](Builder& b) {
    b.add_xor_address(attr::kXorRelayedAddress, r.allocation->relay->address());
    b.add_u32(attr::kLifetime, r.allocation->lifetime_s);
    b.add_xor_address(attr::kXorMappedAddress, r.client.source);
  });
}

TurnResult TurnServer::refresh(Request& r) {
  if (!r.allocation) return refuse(r, Refusal::k437, "Refresh without an allocation");
  uint32_t lifetime = lifetime_s(r.m, false);
  if (lifetime == 0) {
    erase(*r.allocation);
    r.allocation = nullptr;
  } else {
    r.allocation->lifetime_s = lifetime;
    r.allocation->expires_ms = r.now_ms + uint64_t{lifetime} * 1000;
  }
  return succeed(r, [&](Builder& b) { b.add_u32(attr::kLifetime, lifetime); });
}

TurnResult TurnServer::create_permission(Request& r) {
  if (!r.allocation) return refuse(r, Refusal::k437, "CreatePermission without an allocation");
  std::vector<Address> peers;
  for (const auto& at : r.m.attributes) {
    if (at.type != attr::kXorPeerAddress) continue;
    auto peer = read_xor_address(at.value, r.m.transaction);
    if (!peer) return refuse(r, Refusal::k400, "malformed XOR-PEER-ADDRESS");
    if (peer->family != shared_.relay_ip.family) return refuse(r, Refusal::k443, "peer of another address family");
    if (!shared_.peers.allowed(to_ip(*peer))) return refuse(r, Refusal::k403, "peer address denied");
    peers.push_back(*peer);
  }
  if (peers.empty()) return refuse(r, Refusal::k400, "no XOR-PEER-ADDRESS");
  size_t added = 0;  // renewals take no room
  for (const auto& p : peers) added += r.allocation->new_permission(p);
  if (r.allocation->permissions.size() + added > kMaxPermissions)
    return refuse(r, Refusal::k508, "too many permissions on this allocation");
  for (const auto& p : peers)
    if (r.allocation->permit(p, r.now_ms)) counters_.permissions.add();
  return succeed(r);
}

TurnResult TurnServer::channel_bind(Request& r) {
  if (!r.allocation) return refuse(r, Refusal::k437, "ChannelBind without an allocation");
  const Attribute* number = r.m.find(attr::kChannelNumber);
  const Attribute* peer_attr = r.m.find(attr::kXorPeerAddress);
  if (!number || number->value.size() != 4 || !peer_attr)
    return refuse(r, Refusal::k400, "no CHANNEL-NUMBER or XOR-PEER-ADDRESS");
  auto peer = read_xor_address(peer_attr->value, r.m.transaction);
  if (!peer) return refuse(r, Refusal::k400, "malformed XOR-PEER-ADDRESS");
  if (peer->family != shared_.relay_ip.family) return refuse(r, Refusal::k443, "peer of another address family");
  if (!shared_.peers.allowed(to_ip(*peer))) return refuse(r, Refusal::k403, "peer address denied");
  auto channel = static_cast<uint16_t>(number->value[0] << 8 | number->value[1]);
  switch (r.allocation->can_bind(channel, *peer, r.now_ms)) {
    case BindCheck::kOk: break;
    case BindCheck::kBadNumber: return refuse(r, Refusal::k400, "channel number outside 0x4000-0x7FFF");
    case BindCheck::kNumberTaken: return refuse(r, Refusal::k400, "channel bound to another peer");
    case BindCheck::kPeerTaken: return refuse(r, Refusal::k400, "peer bound to another channel");
  }
  if (!r.allocation->channel(channel, r.now_ms) && r.allocation->channels.size() >= kMaxChannels)
    return refuse(r, Refusal::k508, "too many channels on this allocation");
  if (r.allocation->new_permission(*peer) && r.allocation->permissions.size() >= kMaxPermissions)
    return refuse(r, Refusal::k508, "too many permissions on this allocation");
  if (r.allocation->bind(channel, *peer, r.now_ms)) counters_.channels.add();
  if (r.allocation->permit(*peer, r.now_ms)) counters_.permissions.add();
  return succeed(r);
}

void TurnServer::erase(Allocation& a) {
  counters_.allocations.sub();
  counters_.permissions.sub(a.permissions.size());
  counters_.channels.sub(a.channels.size());
  shared_.release(a.username);
  by_id_.erase(a.id);
  ClientKey client = a.client;
  by_client_.erase(client);  // a is gone
}

void TurnServer::expire(uint64_t now_ms) {
  std::vector<Allocation*> ended;
  for (auto& [client, a] : by_client_) {
    if (a->expires_ms <= now_ms) {
      ended.push_back(a.get());
      continue;
    }
    auto [permissions, channels] = a->expire(now_ms);
    counters_.permissions.sub(permissions);
    counters_.channels.sub(channels);
  }
  for (Allocation* a : ended) erase(*a);
}

void TurnServer::remove(const ClientKey& client) {
  if (auto it = by_client_.find(client); it != by_client_.end()) erase(*it->second);
}

void TurnServer::clear() {
  while (!by_client_.empty()) erase(*by_client_.begin()->second);
}

}  // namespace ugate::stun

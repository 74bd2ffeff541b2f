#pragma once
// The STUN and TURN client, sans-I/O: a request's retransmissions (RFC 8489
// section 6.2.1), a Binding's answer, RFC 5780's mapping test read from three
// answers, and a TURN client's requests and their long-term credentials (the
// first 401 gives REALM and NONCE, a 438 a fresh NONCE; each is retried once).
// The sockets are in client_socket.*; the codec is message.*.
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stun/message.h"

namespace ugate::stun {

using ClientClock = std::chrono::steady_clock;

// RFC 8489 section 6.2.1: over UDP a request is sent at 0, RTO, 3 RTO, 7 RTO...
// (Rc sends, the interval doubling), then answered within Rm x RTO of the last
// send or given up; over TCP it is sent once and given Rc's whole span (39.5 s
// by default).
struct RetransmitPolicy {
  std::chrono::milliseconds rto{500};
  int rc = 7;
  int rm = 16;
};

class Transaction {
 public:
  enum class Tick : uint8_t { kWait, kResend, kTimedOut };

  Transaction(std::vector<uint8_t> request, bool reliable, RetransmitPolicy p, ClientClock::time_point now);

  const std::vector<uint8_t>& request() const { return request_; }
  TransactionId id() const;
  // When on_timer() has something to say.
  ClientClock::time_point deadline() const { return deadline_; }
  // kResend: send request() again; kTimedOut: no answer will be waited for.
  Tick on_timer(ClientClock::time_point now);
  int sends() const { return sends_; }
  // An answer (success or error) to this request.
  bool answered_by(const Message& m) const;

 private:
  std::vector<uint8_t> request_;
  RetransmitPolicy policy_;
  bool reliable_;
  int sends_ = 1;
  std::chrono::milliseconds interval_;
  ClientClock::time_point deadline_;
};

TransactionId random_transaction();

// A Binding request, with FINGERPRINT; RFC 5780's CHANGE-REQUEST when asked.
std::vector<uint8_t> binding_request(const TransactionId& t, bool change_ip = false, bool change_port = false);

struct BindingAnswer {
  Address mapped;                        // XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS from an old server)
  std::optional<Address> other;          // OTHER-ADDRESS: the server offers RFC 5780
  std::optional<Address> response_origin;
};
enum class ClientError : uint8_t {
  kNotAnswer,      // not a success or error answer of the method asked
  kErrorAnswer,    // an error answer: see ErrorCode
  kNoAddress,      // a success without the address it must carry
  kBadIntegrity,   // a signed answer whose MESSAGE-INTEGRITY is wrong or missing
  kCount
};
std::string_view to_string(ClientError e);

Result<BindingAnswer, ClientError> read_binding_answer(const Message& m);

// ERROR-CODE's number (300..699) and reason; nullopt when absent or malformed.
struct ErrorCode {
  int code = 0;
  std::string reason;
};
std::optional<ErrorCode> read_error_code(const Message& m);

// RFC 5780 section 4.3: the NAT's mapping behaviour, from test I's mapped
// address (to the primary address), test II's (to the other IP, primary
// port) and test III's (to the other IP and port).
enum class Mapping : uint8_t { kUnknown, kEndpointIndependent, kAddressDependent, kAddressAndPortDependent };
std::string_view to_string(Mapping m);
Mapping classify_mapping(const Address& test1, const std::optional<Address>& test2,
                         const std::optional<Address>& test3);

// Long-term credentials (RFC 8489 section 9.2), or coturn's REST scheme.
struct TurnCredentials {
  std::string username;
  std::string password;
};
// The REST scheme's username "expiry:user" (valid `ttl` from `now`, Unix seconds) and its password.
TurnCredentials rest_credentials(std::string_view secret, std::string_view user, uint64_t now_unix, uint64_t ttl_s);

// One TURN client's requests, one outstanding at a time: request() builds it
// (signed once the server's REALM and NONCE are known), on_answer() reads its
// answer: kRetry means "send retry() under a new transaction", which happens
// after the first 401 and after a 438, once each in a row.
class TurnClient {
 public:
  enum class Outcome : uint8_t { kSuccess, kRetry, kFailed };
  struct Answer {
    Outcome outcome = Outcome::kFailed;
    int code = 0;        // the error answer's code (kFailed, kRetry)
    std::string reason;  // why it failed, for a person
  };

  explicit TurnClient(TurnCredentials c, std::string software = "ugate");

  std::vector<uint8_t> allocate(const TransactionId& t, uint32_t lifetime_s = 600);
  std::vector<uint8_t> refresh(const TransactionId& t, uint32_t lifetime_s);  // 0 ends the allocation
  std::vector<uint8_t> create_permission(const TransactionId& t, std::span<const Address> peers);
  std::vector<uint8_t> channel_bind(const TransactionId& t, uint16_t channel, const Address& peer);
  // Indications are not answered and not signed.
  std::vector<uint8_t> send_indication(const TransactionId& t, const Address& peer, std::span<const uint8_t> data);
  // ChannelData (RFC 8656 section 12.4), padded to 4 bytes when for a stream.
  static std::vector<uint8_t> channel_data(uint16_t channel, std::span<const uint8_t> data, bool stream);

  Answer on_answer(const Message& m);
  std::vector<uint8_t> retry(const TransactionId& t);

  // From the last successful Allocate (and Refresh for the lifetime).
  const std::optional<Address>& relayed() const { return relayed_; }
  const std::optional<Address>& mapped() const { return mapped_; }
  uint32_t lifetime() const { return lifetime_; }
  const std::string& realm() const { return realm_; }

 private:
  // An attribute of the pending request: its value, or an address XOR'd anew under each transaction.
  struct Attr {
    uint16_t type;
    std::vector<uint8_t> value;
    std::optional<Address> xor_address;
  };
  struct Pending {
    uint16_t method = 0;
    std::vector<Attr> attributes;  // before the credentials
    TransactionId transaction{};
    bool signed_ = false;
    int retries = 0;
  };
  std::vector<uint8_t> build(const TransactionId& t);
  std::vector<uint8_t> start(uint16_t method, const TransactionId& t, std::vector<Attr> attributes);

  TurnCredentials credentials_;
  std::string software_;
  std::string realm_, nonce_;
  std::array<uint8_t, 16> key_{};
  Pending pending_;
  std::optional<Address> relayed_, mapped_;
  uint32_t lifetime_ = 0;
};

// What a Data indication (RFC 8656 section 11.6) carries; nullopt when m is not one.
struct PeerData {
  Address peer;
  std::span<const uint8_t> data;
};
std::optional<PeerData> read_data_indication(const Message& m);

}  // namespace ugate::stun

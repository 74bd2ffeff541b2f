#include "listener/protocol.h"

#include <array>

namespace ugate {
namespace {

struct Entry {
  std::string_view name;
  uint32_t traits;
};

// In enum order; the order is also the one config errors list protocols in.
constexpr std::array<Entry, static_cast<size_t>(Protocol::kCount)> kTable{{
    {"tcp", kNeedsForward | kUnixListener},
    {"tls-sni", kNeedsForward | kTerminatesPerRoute | kUnixListener},
    {"socks5", kClientNamesDestination | kProxy | kUdpAssociate | kUnixListener},
    {"http-proxy", kClientNamesDestination | kProxy | kHttpRequests | kUnixListener},
    {"auto", kClientNamesDestination | kProxy | kUdpAssociate | kHttpRequests | kTerminatesPerRoute | kRoutesOptional |
                 kUnixListener},
    {"capture-out", kCapture},
    {"capture-in", kCapture},
    {"webpush", kControlThread},
    {"hbone-h2c", kClientNamesDestination | kStreamNamesDestination},
    {"mesh", kClientNamesDestination | kMeshIdentity},
    {"udp", kDatagram | kNeedsForward},
    {"stun", kStunServer | kOwnAnswers},
    {"dns", kOwnAnswers},
    {"quic", kClientNamesDestination | kStreamNamesDestination | kMeshIdentity | kQuicTransport},
}};

}  // namespace

std::string_view to_string(Protocol p) { return kTable[static_cast<size_t>(p)].name; }

std::optional<Protocol> protocol_from_name(std::string_view name) {
  for (size_t i = 0; i < kTable.size(); ++i)
    if (kTable[i].name == name) return static_cast<Protocol>(i);
  return std::nullopt;
}

bool has(Protocol p, ProtocolTrait trait) { return (kTable[static_cast<size_t>(p)].traits & trait) != 0; }

std::string protocols_with(ProtocolTrait trait) {
  std::string out;
  std::string_view last;
  for (const auto& e : kTable) {
    if (!(e.traits & trait)) continue;
    if (!last.empty()) out += std::string(out.empty() ? "" : ", ") + std::string(last);
    last = e.name;
  }
  return out.empty() ? std::string(last) : out + " and " + std::string(last);
}

std::string protocol_names() {
  std::string out;
  for (const auto& e : kTable) out += std::string(out.empty() ? "" : ", ") + std::string(e.name);
  return out;
}

}  // namespace ugate

#pragma once
// The stun_client section of the config: the STUN servers the node asks for
// its server-reflexive address and its NAT's mapping behaviour (RFC 5780).
#include <vector>

#include "base/duration.h"
#include "base/endpoint.h"

namespace ugate {

struct StunClientConfig {
  std::vector<HostPort> servers;  // empty: the node asks nobody
  Duration interval{300'000};     // between two rounds of questions
};

}  // namespace ugate

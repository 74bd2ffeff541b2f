#pragma once
// The discovery section of the config, owned by this module.
#include <cstdint>
#include <string>
#include <vector>

#include "base/duration.h"

namespace ugate {

// Local discovery (src/discovery/): signed announces multicast on the
// node's links (FF02::5227 and 224.0.0.250); off unless configured.
struct DiscoveryConfig {
  bool enabled = false;
  uint16_t port = 5227;                 // UDP, both groups
  Duration interval{10'000};            // between announces
  Duration ttl{30'000};                 // a node not heard from this long is dropped (default 3 x interval)
  Duration max_clock_skew{60'000};      // announces timestamped further from our clock are refused
  std::vector<std::string> interfaces;  // empty: every interface that is up and multicast (not loopback)
};

}  // namespace ugate

#pragma once
// The process's resident memory and open descriptors, for /metrics. The
// /proc files behind them are opened once, at start-up: a process out of file
// descriptors is exactly when these numbers matter, and then it could not
// open them (it reported 0 for both).
#include <cstdint>
#include <optional>

namespace ugate {

std::optional<uint64_t> resident_bytes();  // nullopt: /proc could not be read
std::optional<uint64_t> open_fds();

}  // namespace ugate

#pragma once
// Counters for one listener on one worker. Only the owning worker writes them
// (so plain loads and stores suffice, no locked read-modify-write); the admin
// thread reads and sums them across workers.
#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "base/meta.h"

namespace ugate {

struct Counter {
  std::atomic<uint64_t> value{0};
  void add(uint64_t n = 1) { value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(uint64_t n = 1) { value.store(value.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  uint64_t get() const { return value.load(std::memory_order_relaxed); }
};

// Why a UDP listener dropped a datagram (counted per listener).
enum class UdpDrop : uint8_t {
  kFlowLimit,            // the NAT table is full (max_streams)
  kNoRoute,              // no route, or its name did not resolve
  kNoSocket,             // no descriptor for a new flow (out of files)
  kSendFailed,           // the upstream socket refused it (buffer full, ...)
  kReplyFailed,          // a reply could not be sent to the client
  kUpstreamUnreachable,  // ICMP unreachable: an earlier datagram found no upstream
  kNoOriginalDst,        // tproxy: the datagram had no original destination
  kCaptureLoop,          // tproxy: its original destination is the listener itself
  kReplyBindFailed,      // tproxy: the original destination could not be bound to answer from it
  kMemoryWatermark,      // no new flow: resident memory is above overload.memory_watermark
  kCount
};
std::string_view to_string(UdpDrop d);

struct ListenerStats {
  Counter accepted;
  Counter active;
  Counter closed;
  Counter bytes_up;    // client -> upstream
  Counter bytes_down;  // upstream -> client
  Counter spliced;     // streams on the splice path (small messages still copied)
  Counter copied;      // streams whose bytes moved through user space
  Counter bytes_spliced;  // of bytes_up + bytes_down, those moved by splice(2)
  Counter accept_errors;
  Counter datagrams_dropped;  // UDP relays: malformed, not allowed, unknown sender, send failed
  std::array<Counter, static_cast<size_t>(CloseReason::kCount)> closed_by_reason;
  Counter packets_up;  // UDP listeners: datagrams each way
  Counter packets_down;
  std::array<Counter, static_cast<size_t>(UdpDrop::kCount)> udp_drops;
};

}  // namespace ugate

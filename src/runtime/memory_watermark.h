#pragma once
// overload.memory_watermark: while the process's resident memory is above it, listeners admit no
// new stream (CloseReason::kMemoryWatermark); the streams it has go on. A proxy that keeps
// accepting while its memory grows ends in the OOM killer with every stream it holds.
// The gate feeds it the resident size once a second; the listeners read one flag.
#include <atomic>
#include <cstdint>

namespace ugate {

class MemoryWatermark {
 public:
  explicit MemoryWatermark(uint64_t limit_bytes = 0) : limit_(limit_bytes) {}
  uint64_t limit() const { return limit_; }  // 0: none
  bool over() const { return over_.load(std::memory_order_relaxed); }

  // Decides from the resident size now: over above the limit, and under again only below 90% of
  // it, so that a process near the line does not flip with each reading. True when it changed.
  bool update(uint64_t resident_bytes);

 private:
  uint64_t limit_;
  std::atomic<bool> over_{false};
};

}  // namespace ugate

#include "runtime/memory_watermark.h"

namespace ugate {

bool MemoryWatermark::update(uint64_t resident_bytes) {
  if (limit_ == 0) return false;
  bool was = over();
  bool now = was ? resident_bytes >= limit_ / 10 * 9 : resident_bytes > limit_;
  over_.store(now, std::memory_order_relaxed);
  return now != was;
}

}  // namespace ugate

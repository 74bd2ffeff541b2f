#include "mesh/byte_queue.h"

#include <algorithm>
#include <cstring>

namespace ugate {

ByteQueue::~ByteQueue() = default;

unsigned ByteQueue::block_class(size_t want, const std::vector<Buffer>& blocks) {
  unsigned cls = blocks.empty() ? 0 : std::min(blocks.back().size_class() + 1, kMaxBlockClass);
  while (cls < kMaxBlockClass && (AdaptiveSize::kMinSize << cls) < want) ++cls;
  return cls;
}

void ByteQueue::append(const uint8_t* data, size_t n, BufferPool& pool) {
  while (n > 0) {
    if (blocks_.empty() || tail_ == blocks_.back().size()) {
      blocks_.push_back(pool.acquire(block_class(n, blocks_)));
      tail_ = 0;
    }
    size_t m = std::min(n, blocks_.back().size() - tail_);
    std::memcpy(blocks_.back().data() + tail_, data, m);
    tail_ += m;
    size_ += m;
    data += m;
    n -= m;
  }
}

size_t ByteQueue::take(uint8_t* out, size_t n, BufferPool& pool) {
  size_t done = 0;
  while (done < n && size_ > 0) {
    size_t end = blocks_.size() == 1 ? tail_ : blocks_.front().size();
    size_t m = std::min(n - done, end - head_);
    std::memcpy(out + done, blocks_.front().data() + head_, m);
    head_ += m;
    size_ -= m;
    done += m;
    if (head_ == end) pop_front(pool);
  }
  return done;
}

void ByteQueue::pop_front(BufferPool& pool) {
  pool.release(blocks_.front());
  blocks_.erase(blocks_.begin());
  head_ = 0;
  if (blocks_.empty()) {
    tail_ = 0;
    if (blocks_.capacity() > 4) std::vector<Buffer>().swap(blocks_);  // a burst's bookkeeping goes too
  }
}

void ByteQueue::clear(BufferPool& pool) {
  while (!blocks_.empty()) pop_front(pool);
  size_ = 0;
  head_ = tail_ = 0;
}

}  // namespace ugate

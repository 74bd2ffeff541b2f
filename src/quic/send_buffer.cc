#include "quic/send_buffer.h"

#include <algorithm>
#include <cstring>

namespace ugate::quic {

void SendBuffer::append(const uint8_t* data, size_t n) {
  while (n > 0) {
    if (blocks_.empty() || blocks_.back().used == kBlock) blocks_.emplace_back();
    Block& b = blocks_.back();
    size_t k = std::min(n, kBlock - b.used);
    std::memcpy(b.bytes.get() + b.used, data, k);
    b.used += k;
    size_ += k;
    data += k;
    n -= k;
  }
}

size_t SendBuffer::next(std::span<Piece> out) {
  size_t filled = 0;
  size_t skip = head_ + sent_;  // offset of the first unsent byte from the front block's start
  for (const Block& b : blocks_) {
    if (filled == out.size()) break;
    if (skip >= b.used) {
      skip -= b.used;
      continue;
    }
    out[filled++] = {b.bytes.get() + skip, b.used - skip};
    sent_ += b.used - skip;
    skip = 0;
  }
  return filled;
}

void SendBuffer::ack(size_t n) {
  n = std::min(n, sent_);
  size_ -= n;
  sent_ -= n;
  head_ += n;
  // A block goes once all of it arrived: a full one, or the last one when nothing is held.
  while (!blocks_.empty() && head_ >= blocks_.front().used && (blocks_.front().used == kBlock || size_ == 0)) {
    head_ -= blocks_.front().used;
    blocks_.pop_front();
  }
}

void SendBuffer::clear() {
  blocks_.clear();
  head_ = size_ = sent_ = 0;
}

}  // namespace ugate::quic

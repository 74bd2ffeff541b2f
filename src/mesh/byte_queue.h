#pragma once
// ByteQueue: bytes in order, in blocks borrowed from the worker's BufferPool.
// An HTTP/2 stream keeps what it received but its reader has not taken, and
// what its writer gave but the connection has not framed yet; each is bounded
// by its owner (the flow-control window, the send limit). An empty queue holds
// no block, so an idle stream costs nothing here.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/buffer_pool.h"

namespace ugate {

// Blocks grow with the queue: the first fits what came (4 KiB at least), each
// next one is twice the last, up to 64 KiB. So a stream that holds a few
// kilobytes (a stalled one, bounded by a small window) holds a small block.
class ByteQueue {
 public:
  static constexpr unsigned kMaxBlockClass = 4;  // 64 KiB

  ByteQueue() = default;
  ByteQueue(const ByteQueue&) = delete;
  ByteQueue& operator=(const ByteQueue&) = delete;
  ~ByteQueue();  // blocks still held go back to the heap, not to a pool

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  void append(const uint8_t* data, size_t n, BufferPool& pool);
  // Copies up to n bytes from the front into out and removes them.
  size_t take(uint8_t* out, size_t n, BufferPool& pool);
  // Drops everything.
  void clear(BufferPool& pool);

 private:
  void pop_front(BufferPool& pool);

  static unsigned block_class(size_t want, const std::vector<Buffer>& blocks);

  std::vector<Buffer> blocks_;
  size_t head_ = 0;  // read offset in blocks_.front()
  size_t tail_ = 0;  // bytes written in blocks_.back()
  size_t size_ = 0;
};

}  // namespace ugate

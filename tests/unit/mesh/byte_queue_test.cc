// ByteQueue: bytes come out as they went in, and the blocks it borrows grow
// with what it holds, so a stream stalled with a few kilobytes holds a few.
#include "mesh/byte_queue.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace ugate {
namespace {

std::string pattern(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// What the queue borrowed, measured by what its blocks bring back to an empty pool.
size_t borrowed_for(size_t total, size_t chunk) {
  BufferPool pool;
  ByteQueue q;
  std::string data = pattern(total, 1);
  for (size_t off = 0; off < total; off += chunk)
    q.append(reinterpret_cast<const uint8_t*>(data.data()) + off, std::min(chunk, total - off), pool);
  EXPECT_EQ(q.size(), total);
  q.clear(pool);
  EXPECT_TRUE(q.empty());
  return pool.cached_bytes();
}

TEST(ByteQueue, SmallQueuesHoldSmallBlocks) {
  EXPECT_EQ(borrowed_for(10, 10), 4096u);            // was one 64 KiB block
  EXPECT_EQ(borrowed_for(4096, 1000), 4096u);
  EXPECT_EQ(borrowed_for(5000, 1000), 4096u + 8192u);  // the next block doubles
  EXPECT_EQ(borrowed_for(20000, 20000), 32768u);     // the first fits what came
  // Large queues reach 64 KiB blocks; they hold at most about twice their bytes.
  EXPECT_LE(borrowed_for(300000, 1000), 2 * 300000u);
}

TEST(ByteQueue, BytesComeOutInOrderAcrossGrowingBlocks) {
  BufferPool pool;
  ByteQueue q;
  std::string in = pattern(1 << 20, 2), out;
  std::mt19937 rng(3);
  size_t written = 0;
  while (out.size() < in.size()) {
    size_t n = std::min<size_t>(rng() % 70000, in.size() - written);
    q.append(reinterpret_cast<const uint8_t*>(in.data()) + written, n, pool);
    written += n;
    std::string buf(rng() % 50000 + 1, '\0');
    size_t got = q.take(reinterpret_cast<uint8_t*>(buf.data()), buf.size(), pool);
    out.append(buf.data(), got);
    ASSERT_EQ(q.size(), written - out.size());
  }
  EXPECT_TRUE(out == in);
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace ugate

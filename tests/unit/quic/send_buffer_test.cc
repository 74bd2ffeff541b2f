#include "quic/send_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <string>
#include <vector>

namespace ugate::quic {
namespace {

using Piece = SendBuffer::Piece;

std::string take_all(SendBuffer& b, size_t max_pieces = 16) {
  std::vector<Piece> pieces(max_pieces);
  size_t n = b.next(pieces);
  std::string out;
  for (size_t i = 0; i < n; ++i) out.append(reinterpret_cast<const char*>(pieces[i].data), pieces[i].size);
  return out;
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  std::iota(v.begin(), v.end(), seed);
  return v;
}

TEST(SendBuffer, HandsOutEachByteOnceInOrder) {
  SendBuffer b;
  b.append(reinterpret_cast<const uint8_t*>("hello "), 6);
  EXPECT_EQ(take_all(b), "hello ");
  EXPECT_EQ(b.unsent(), 0u);
  EXPECT_EQ(b.size(), 6u);
  b.append(reinterpret_cast<const uint8_t*>("world"), 5);
  EXPECT_EQ(take_all(b), "world");  // only what was not handed out before
  EXPECT_EQ(take_all(b), "");
}

TEST(SendBuffer, HandedOutBytesStayInPlaceUntilAcknowledged) {
  SendBuffer b;
  auto first = pattern(SendBuffer::kBlock - 10, 1);
  b.append(first.data(), first.size());
  Piece p[4];
  ASSERT_EQ(b.next(p), 1u);
  const uint8_t* where = p[0].data;
  auto more = pattern(3 * SendBuffer::kBlock, 7);  // fills the first block and adds others
  b.append(more.data(), more.size());
  EXPECT_EQ(where[0], first[0]);  // not moved by the appends
  EXPECT_EQ(0, std::memcmp(where, first.data(), first.size()));
  b.ack(first.size() - 1);
  EXPECT_EQ(where[first.size() - 1], first.back());  // the block is still held: not all of it arrived
}

TEST(SendBuffer, PiecesSpanBlocksAndRespectTheirCount) {
  SendBuffer b;
  auto data = pattern(3 * SendBuffer::kBlock + 100, 3);
  b.append(data.data(), data.size());
  std::string got = take_all(b, 2);  // two pieces: the first two blocks
  EXPECT_EQ(got.size(), 2 * SendBuffer::kBlock);
  got += take_all(b);
  ASSERT_EQ(got.size(), data.size());
  EXPECT_EQ(0, std::memcmp(got.data(), data.data(), data.size()));
}

TEST(SendBuffer, AcknowledgedBufferHoldsNothing) {
  SendBuffer b;
  auto data = pattern(2 * SendBuffer::kBlock + 5, 9);
  b.append(data.data(), data.size());
  take_all(b);
  b.ack(SendBuffer::kBlock);
  EXPECT_EQ(b.size(), SendBuffer::kBlock + 5);
  b.ack(SendBuffer::kBlock + 5);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.unsent(), 0u);
  b.append(data.data(), 4);  // starts afresh after everything went
  EXPECT_EQ(take_all(b), std::string(data.begin(), data.begin() + 4));
}

TEST(SendBuffer, AckNeverCountsBytesNotHandedOut) {
  SendBuffer b;
  b.append(reinterpret_cast<const uint8_t*>("abcdef"), 6);
  Piece p[1];
  b.next(p);
  b.append(reinterpret_cast<const uint8_t*>("gh"), 2);
  b.ack(100);  // a bogus count from a confused peer: bounded by what went out
  EXPECT_EQ(b.size(), 2u);
  EXPECT_EQ(take_all(b), "gh");
}

}  // namespace
}  // namespace ugate::quic

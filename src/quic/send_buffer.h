#pragma once
// SendBuffer: what a QUIC stream's writer gave, kept until the peer
// acknowledges it. nghttp3 frames the bytes it is handed without copying
// them and may send them again after a loss, so they stay where they are
// (fixed-size blocks, never moved) until acked_stream_data says they arrived.
// Pure: no library types, unit-tested alone. An acknowledged buffer holds
// no block, so an idle stream costs nothing here.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>

namespace ugate::quic {

class SendBuffer {
 public:
  static constexpr size_t kBlock = 16 * 1024;

  struct Piece {
    const uint8_t* data;
    size_t size;
  };

  // Copies all of it; the caller bounds how much is held (size()).
  void append(const uint8_t* data, size_t n);
  // Fills `out` with the bytes not handed out yet, in order; they count as
  // handed out from then on. Returns how many pieces were filled.
  size_t next(std::span<Piece> out);
  // The first n handed-out bytes arrived: their blocks go.
  void ack(size_t n);
  // Drops all of it (the stream is gone: nothing will send it again).
  void clear();

  size_t size() const { return size_; }          // held: not acknowledged yet
  size_t unsent() const { return size_ - sent_; }  // not handed out yet

 private:
  struct Block {
    std::unique_ptr<uint8_t[]> bytes{new uint8_t[kBlock]};
    size_t used = 0;
  };
  std::deque<Block> blocks_;
  size_t head_ = 0;  // acknowledged bytes in blocks_.front()
  size_t size_ = 0;  // bytes held
  size_t sent_ = 0;  // of them, handed out
};

}  // namespace ugate::quic

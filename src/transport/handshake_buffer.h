#pragma once
// The first bytes of a client, read (consumed, not peeked) into a bounded
// buffer while a door parses a handshake or a request head. Whatever the door
// did not use belongs to the upstream and is replayed to it (ForwardOptions).
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/stream.h"

namespace ugate {

class HandshakeBuffer {
 public:
  explicit HandshakeBuffer(size_t capacity) : data_(new uint8_t[capacity]), capacity_(capacity) {}

  // The bytes received and not yet used.
  std::span<const uint8_t> data() const { return {data_.get() + begin_, end_ - begin_}; }
  void consume(size_t n) { begin_ += std::min(n, end_ - begin_); }
  // Waits for and reads more bytes: an error at EOF (asio::error::eof), when
  // the stream fails or is closed, or when the buffer is full
  // (asio::error::message_size: the message is larger than the door allows).
  asio::awaitable<error_code> read_more(Stream& s);
  // The unused bytes, for the replay; the buffer is then empty.
  std::string take_rest();
  void clear() { begin_ = end_ = 0; }

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t capacity_;
  size_t begin_ = 0, end_ = 0;
};

}  // namespace ugate

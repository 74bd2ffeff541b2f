#include "transport/handshake_buffer.h"

#include <cstring>

#include "transport/stream_wait.h"

namespace ugate {

asio::awaitable<error_code> HandshakeBuffer::read_more(Stream& s) {
  if (begin_ > 0) {  // keep the unused bytes at the front: room for more
    std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == capacity_) co_return asio::error::message_size;
  for (;;) {
    error_code ec;
    size_t n = s.try_read(asio::buffer(data_.get() + end_, capacity_ - end_), ec);
    if (!ec) {
      end_ += n;
      co_return error_code{};
    }
    if (ec == asio::error::interrupted) continue;
    if (ec != asio::error::would_block) co_return ec;
    if ((ec = co_await wait_readable(s))) co_return ec;
  }
}

std::string HandshakeBuffer::take_rest() {
  auto rest = data();
  std::string out(rest.begin(), rest.end());
  begin_ = end_ = 0;
  return out;
}

}  // namespace ugate

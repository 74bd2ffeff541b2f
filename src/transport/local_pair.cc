#include "transport/local_pair.h"

namespace ugate {

LocalPairStream::LocalPairStream(std::unique_ptr<TcpStream> socket, std::shared_ptr<LocalPairResets> resets, int side)
    : Stream(socket->shared_meta()), socket_(std::move(socket)), resets_(std::move(resets)), side_(side) {}

std::size_t LocalPairStream::try_read(asio::mutable_buffer buf, error_code& ec) {
  std::size_t n = socket_->try_read(buf, ec);
  if (ec == asio::error::eof && eof_is_reset()) ec = asio::error::connection_reset;
  return n;
}

void LocalPairStream::reset() {
  (*resets_)[side_].store(true);  // before the close the other end will read as EOF
  socket_->reset();
}

}  // namespace ugate

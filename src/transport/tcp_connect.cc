#include "transport/tcp_connect.h"

#include <cerrno>

#include "transport/stream_wait.h"
#include "transport/tcp_stream.h"

namespace ugate {
using boost::system::error_code;

asio::awaitable<CloseReason> connect_tcp(const Endpoints& endpoints, Poller& poller, const std::shared_ptr<StreamMeta>& meta,
                                         std::unique_ptr<Stream>& up) {
  CloseReason result = CloseReason::kConnectFailed;
  for (const auto& ep : endpoints) {
    int err = 0;
    auto tcp = TcpStream::connect(ep, poller, meta, err);
    if (!tcp) co_return CloseReason::kOverload;  // out of descriptors
    TcpStream& s = *tcp;
    up = std::move(tcp);
    if (err == EINPROGRESS) {
      error_code ec = co_await wait_writable(s);
      if (ec) co_return CloseReason::kConnectTimeout;  // closed by the caller
      // A failed connect always comes with EPOLLERR; without it there is no
      // error to fetch, and one getsockopt per connection is saved.
      err = s.peer_finished() ? s.socket_error() : 0;
    }
    if (err == 0) {
      meta->upstream = ep;
      co_return CloseReason::kDone;
    }
    result = err == ECONNREFUSED                         ? CloseReason::kConnectRefused
             : err == ETIMEDOUT                          ? CloseReason::kConnectTimeout
             : err == ENETUNREACH || err == EHOSTUNREACH ? CloseReason::kUnreachable
                                                         : CloseReason::kConnectFailed;
    up.reset();
  }
  co_return result;
}

}  // namespace ugate

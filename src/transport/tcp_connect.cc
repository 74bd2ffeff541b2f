#include "transport/tcp_connect.h"

#include <cerrno>

#include "transport/stream_wait.h"
#include "transport/tcp_stream.h"

namespace ugate {
using boost::system::error_code;
namespace {

// The outcome of a connect started on `s`: 0, its errno, or -1 when the
// caller closed the stream meanwhile (its deadline).
asio::awaitable<int> connect_outcome(TcpStream& s, int err) {
  if (err != EINPROGRESS) co_return err;
  error_code ec = co_await wait_writable(s);
  if (ec) co_return -1;
  // A failed connect always comes with EPOLLERR; without it there is no
  // error to fetch, and one getsockopt per connection is saved.
  co_return s.peer_finished() ? s.socket_error() : 0;
}

CloseReason connect_failure(int err) {
  return err == ECONNREFUSED || err == ENOENT          ? CloseReason::kConnectRefused  // ENOENT: no socket file
         : err == ETIMEDOUT                              ? CloseReason::kConnectTimeout
         : err == ENETUNREACH || err == EHOSTUNREACH     ? CloseReason::kUnreachable
                                                         : CloseReason::kConnectFailed;
}

}  // namespace

asio::awaitable<CloseReason> connect_tcp(const Endpoints& endpoints, Poller& poller, const std::shared_ptr<StreamMeta>& meta,
                                         std::unique_ptr<Stream>& up) {
  CloseReason result = CloseReason::kConnectFailed;
  for (const auto& ep : endpoints) {
    int err = 0;
    auto tcp = TcpStream::connect(ep, poller, meta, err);
    if (!tcp) co_return err == EPERM ? CloseReason::kConnectFailed : CloseReason::kOverload;  // refused by the protect hook, or out of descriptors
    TcpStream& s = *tcp;
    up = std::move(tcp);
    err = co_await connect_outcome(s, err);
    if (err < 0) co_return CloseReason::kConnectTimeout;  // closed by the caller
    if (err == 0) {
      meta->upstream = ep;
      co_return CloseReason::kDone;
    }
    result = connect_failure(err);
    up.reset();
  }
  co_return result;
}

asio::awaitable<CloseReason> connect_unix(const std::string& path, Poller& poller,
                                          const std::shared_ptr<StreamMeta>& meta, std::unique_ptr<Stream>& up) {
  int err = 0;
  auto unix_stream = TcpStream::connect_unix(path, poller, meta, err);
  if (!unix_stream) co_return CloseReason::kOverload;
  TcpStream& s = *unix_stream;
  up = std::move(unix_stream);
  err = co_await connect_outcome(s, err);
  if (err < 0) co_return CloseReason::kConnectTimeout;
  if (err == 0) co_return CloseReason::kDone;  // meta->upstream stays unset: the destination names the path
  up.reset();
  co_return connect_failure(err);
}

}  // namespace ugate

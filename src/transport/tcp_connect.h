#pragma once
// A TCP connection to the first of `endpoints` that answers, tried in turn.
// `up` holds the stream being connected all along: closing it gives up (the
// caller owns the timeout). On kDone it stays connected (a TcpStream) and
// meta.upstream says where; else why not.
#include <boost/asio/awaitable.hpp>
#include <memory>

#include "base/meta.h"
#include "base/stream.h"
#include "runtime/poller.h"
#include "runtime/resolver.h"

namespace ugate {

asio::awaitable<CloseReason> connect_tcp(const Endpoints& endpoints, Poller& poller, const std::shared_ptr<StreamMeta>& meta,
                                         std::unique_ptr<Stream>& up);

// The same to a Unix socket (a path, or "@name"): a missing file or a socket
// nobody listens on is connect_refused. meta.upstream stays unset.
asio::awaitable<CloseReason> connect_unix(const std::string& path, Poller& poller,
                                          const std::shared_ptr<StreamMeta>& meta, std::unique_ptr<Stream>& up);

}  // namespace ugate

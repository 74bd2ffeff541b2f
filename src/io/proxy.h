#pragma once
// The proxy engine: moves bytes both ways between two Streams until both
// directions are done. EOF one way becomes shutdown(SHUT_WR) on the other side
// (half-close); an error on either side resets both. splice(2) when both are
// plain TCP sockets and splice is allowed; an adaptive-buffer copy otherwise.
#include <boost/asio/awaitable.hpp>

#include "core/meta.h"
#include "core/stats.h"
#include "core/stream.h"
#include "io/buffer_pool.h"

namespace ugate {

struct ProxyContext {
  BufferPool& buffers;
  PipePool& pipes;
  bool splice_allowed;
  const uint32_t& now_tick;  // the worker's coarse clock (see Worker::kTick)
  uint32_t& last_active;     // set to now_tick whenever bytes move
  ListenerStats& stats;
};

// The one place that decides splice vs copy.
ProxyMode choose_mode(const Stream& down, const Stream& up, bool splice_allowed);

// Runs until both directions finish (kDone) or one fails; returns why it
// ended. When the caller aborts the streams (close()), it returns kDone and
// the caller knows its own reason.
asio::awaitable<CloseReason> proxy(Stream& down, Stream& up, ProxyContext& ctx);

}  // namespace ugate

#pragma once
// What tests of the proxy engine run it with: an io_context and poller, the
// pools, a clock, stats, and the outcome that proxy_done reports.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <future>

#include "runtime/poller.h"
#include "transport/proxy.h"

namespace ugate::test {

class ProxyRig : public ProxyOwner {
 protected:
  ProxyContext context(bool splice) { return {ctx_, buffers_, pipes_, splice, now_, last_active_, stats_}; }
  // Called by the fixture's proxy_done.
  void report(CloseReason reason) { done_.set_value(reason); }
  CloseReason result(std::chrono::seconds limit) {
    EXPECT_EQ(result_.wait_for(limit), std::future_status::ready);
    return result_.get();
  }

  asio::io_context ctx_;
  Poller poller_{ctx_};
  BufferPool buffers_;
  PipePool pipes_;
  uint32_t now_ = 0, last_active_ = 0;
  ListenerStats stats_;
  std::promise<CloseReason> done_;
  std::future<CloseReason> result_ = done_.get_future();
};

}  // namespace ugate::test

// spawn(): an exception escaping a task is logged and counted, and the run
// loop goes on (before, the control loop rethrew it and asio::detached
// dropped it).
#include "runtime/spawn.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <stdexcept>

namespace ugate {
namespace {

namespace asio = boost::asio;

asio::awaitable<void> fails() { throw std::runtime_error("boom"); co_return; }
asio::awaitable<void> fails_oddly() { throw 42; co_return; }
asio::awaitable<void> succeeds(int& runs) {
  ++runs;
  co_return;
}

TEST(Spawn, EscapedExceptionsAreCountedAndTheLoopGoesOn) {
  boost::asio::io_context ctx;
  const uint64_t before = escaped_exceptions();
  int runs = 0, afters = 0;
  spawn(ctx.get_executor(), fails(), "a failing task", [&afters] { ++afters; });
  spawn(ctx.get_executor(), fails_oddly(), "an odd one");
  spawn(ctx.get_executor(), succeeds(runs), "a good task", [&afters] { ++afters; });
  EXPECT_NO_THROW(ctx.run());
  EXPECT_EQ(escaped_exceptions() - before, 2u);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(afters, 2) << "after runs whether the task failed or not";
}

}  // namespace
}  // namespace ugate

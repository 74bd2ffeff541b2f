#pragma once
// Every coroutine a thread starts without awaiting it goes through spawn():
// an exception that escapes it is logged, naming `what`, and counted
// (ugate_escaped_exceptions_total). It is never rethrown out of an
// io_context's run loop (which would end the thread, or the control loop)
// nor dropped (asio::detached). `after`, when given, runs once the task is
// over, failed or not (an accept loop's count of open connections).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <utility>

namespace ugate {

// Logs and counts an exception that escaped the task `what`.
void note_escaped(const std::exception_ptr& e, std::string_view what);
// How many have, since the start (all threads).
uint64_t escaped_exceptions();

template <class After>
void spawn(const boost::asio::any_io_executor& ex, boost::asio::awaitable<void> task, std::string what, After after) {
  boost::asio::co_spawn(ex, std::move(task), [what = std::move(what), after = std::move(after)](std::exception_ptr e) {
    after();
    if (e) note_escaped(e, what);
  });
}

inline void spawn(const boost::asio::any_io_executor& ex, boost::asio::awaitable<void> task, std::string what) {
  spawn(ex, std::move(task), std::move(what), [] {});
}

}  // namespace ugate

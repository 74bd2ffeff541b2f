#pragma once
// SendBudget: the bytes queued for sending on all of one worker's HTTP/2
// connections, bounded. Each stream's queue is bounded by its peer's window
// and each connection's by a cap of its own; this bounds their sum, so many
// connections whose peers stop reading cannot take the worker's memory.
// Sessions that were refused room wait here and are told (posted, outside any
// codec callback) when the budget is back under half.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/intrusive/list.hpp>
#include <algorithm>
#include <atomic>
#include <cstddef>

namespace ugate::h2 {

class SendBudget {
 public:
  using Hook = boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;
  // What waits for room: a session, which wakes its blocked writers.
  class Sender : public Hook {
   public:
    virtual void on_budget() = 0;

   protected:
    ~Sender() = default;
  };

  static constexpr size_t kDefaultCap = 32u << 20;

  SendBudget(boost::asio::io_context& io, size_t cap = kDefaultCap) : io_(io), cap_(cap) {}
  SendBudget(const SendBudget&) = delete;
  SendBudget& operator=(const SendBudget&) = delete;

  size_t room() const { return used() < cap_ ? cap_ - used() : 0; }
  // Written by the worker only; read by the admin thread too (relaxed, as Counter).
  size_t used() const { return used_.load(std::memory_order_relaxed); }
  void add(size_t n) { used_.store(used() + n, std::memory_order_relaxed); }
  void sub(size_t n) {
    used_.store(used() - std::min(n, used()), std::memory_order_relaxed);
    if (!waiting_.empty() && !posted_ && used() <= cap_ / 2) {
      posted_ = true;
      boost::asio::post(io_, [this] { wake(); });
    }
  }
  // `w` was refused room; it hears on_budget() once there is some again.
  void wait(Sender& w) {
    if (!w.is_linked()) waiting_.push_back(w);
  }

 private:
  void wake() {
    posted_ = false;
    while (!waiting_.empty() && used() < cap_) {
      Sender& w = waiting_.front();
      waiting_.pop_front();
      w.on_budget();
    }
  }

  boost::asio::io_context& io_;
  size_t cap_;
  std::atomic<size_t> used_{0};
  bool posted_ = false;
  boost::intrusive::list<Sender, boost::intrusive::constant_time_size<false>> waiting_;
};

}  // namespace ugate::h2

#pragma once
// A TCP connection of a listener that answers itself (stun, dns) while its
// door's coroutine runs: counted in the slot's stats, closed by its idle
// deadline or a drain (Tracked), listed in /debug/streams under `phase`.
#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>
#include <string_view>

#include "listener/listener_slot.h"
#include "runtime/worker.h"

namespace ugate {

class AnsweringConnection final : public Tracked {
 public:
  AnsweringConnection(Worker& worker, ListenerSlot& slot, asio::ip::tcp::socket& socket, std::string_view phase)
      : worker_(worker), slot_(slot), socket_(socket), phase_(phase) {
    slot_.stats.accepted.add();
    slot_.stats.active.add();
    worker.track(*this);
    start_ = worker.now_tick();
    touch();
  }
  ~AnsweringConnection() override {
    slot_.stats.active.sub();
    slot_.stats.closed.add();
  }
  AnsweringConnection(const AnsweringConnection&) = delete;
  AnsweringConnection& operator=(const AnsweringConnection&) = delete;

  // Bytes moved: the idle deadline starts again.
  void touch() { deadline_ = worker_.now_tick() + Worker::ticks(slot_.config->idle_timeout); }
  void on_tick(uint32_t now) override {
    if (static_cast<int32_t>(now - deadline_) >= 0) abort(CloseReason::kIdleTimeout);
  }
  void abort(CloseReason) override {
    boost::system::error_code ignored;
    socket_.close(ignored);  // ends the door's read
  }
  void describe(nlohmann::json& out, uint32_t now) const override {
    out["listener"] = slot_.config->name;
    out["phase"] = phase_;
    out["age_ms"] = static_cast<uint64_t>(now - start_) * Worker::kTick.count();
  }

 private:
  Worker& worker_;
  ListenerSlot& slot_;
  asio::ip::tcp::socket& socket_;
  std::string_view phase_;
  uint32_t start_ = 0, deadline_ = 0;
};

}  // namespace ugate

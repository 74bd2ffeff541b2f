#pragma once
// The node's own STUN questions (the stun_client section): every interval,
// each configured server is asked for our server-reflexive address and, when
// it offers RFC 5780, our NAT's mapping behaviour. A thread of its own, since
// the questions are sequential and mostly waiting (client_socket.h); stop()
// wakes it through an eventfd. Its last answers are in /debug/nodes ("self").
#include <nlohmann/json_fwd.hpp>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "stun/client_config.h"
#include "stun/client_socket.h"

namespace ugate::stun {

// One server's report as JSON: server, reflexive, local, behind_nat, rfc5780, nat, error.
nlohmann::json describe(const ReflexiveReport& r);
// The reports of one round, summed up: the first reflexive address, the first
// known mapping ("nat"), and each server's report.
nlohmann::json describe(const std::vector<ReflexiveReport>& reports);

class StunClientService {
 public:
  explicit StunClientService(StunClientConfig c);
  ~StunClientService();
  StunClientService(const StunClientService&) = delete;
  StunClientService& operator=(const StunClientService&) = delete;

  void start();
  void stop();  // wakes the thread and joins it; idempotent
  nlohmann::json describe() const;

 private:
  void run();

  StunClientConfig config_;
  int stop_fd_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<ReflexiveReport> last_;  // guarded by mutex_
  std::chrono::system_clock::time_point asked_{};
  uint64_t rounds_ = 0;
};

}  // namespace ugate::stun

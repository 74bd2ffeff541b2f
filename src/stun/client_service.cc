#include "stun/client_service.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <system_error>

#include "base/duration.h"

namespace ugate::stun {

nlohmann::json describe(const ReflexiveReport& r) {
  nlohmann::json j = {{"server", r.server},
                      {"local", to_string(r.local)},
                      {"rfc5780", r.rfc5780},
                      {"nat", to_string(r.mapping)}};
  if (r.mapped) {
    j["reflexive"] = to_string(*r.mapped);
    j["behind_nat"] = r.behind_nat;
  }
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

nlohmann::json describe(const std::vector<ReflexiveReport>& reports) {
  nlohmann::json out = {{"reflexive", nullptr}, {"nat", to_string(Mapping::kUnknown)}};
  nlohmann::json servers = nlohmann::json::array();
  bool mapped = false, known = false;
  for (const auto& r : reports) {
    servers.push_back(describe(r));
    if (r.mapped && !mapped) {
      mapped = true;
      out["reflexive"] = to_string(*r.mapped);
      out["behind_nat"] = r.behind_nat;
    }
    if (r.mapping != Mapping::kUnknown && !known) {
      known = true;
      out["nat"] = to_string(r.mapping);
    }
  }
  out["servers"] = std::move(servers);
  return out;
}

StunClientService::StunClientService(StunClientConfig c) : config_(std::move(c)), stop_fd_(::eventfd(0, EFD_CLOEXEC)) {
  if (stop_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

StunClientService::~StunClientService() {
  stop();
  ::close(stop_fd_);
}

void StunClientService::start() {
  thread_ = std::thread([this] { run(); });
}

void StunClientService::stop() {
  uint64_t one = 1;
  if (::write(stop_fd_, &one, sizeof one) < 0) spdlog::warn("stun_client: cannot wake the prober: {}", errno);
  if (thread_.joinable()) thread_.join();
}

void StunClientService::run() {
  for (;;) {
    std::vector<ReflexiveReport> reports;
    for (const auto& server : config_.servers) {
      reports.push_back(learn_reflexive(server, RetransmitPolicy{}, stop_fd_));
      const ReflexiveReport& r = reports.back();
      if (!r.error.empty() && !r.mapped) spdlog::warn("stun_client: {}: {}", r.server, r.error);
    }
    {
      std::lock_guard lock(mutex_);
      // A round cut short by stop() tells nothing new.
      pollfd stop{stop_fd_, POLLIN, 0};
      if (::poll(&stop, 1, 0) > 0) return;
      if (rounds_ == 0 && !reports.empty() && reports.front().mapped)
        spdlog::info("stun_client: reflexive address {}, NAT mapping {}", to_string(*reports.front().mapped),
                     to_string(reports.front().mapping));
      last_ = std::move(reports);
      asked_ = std::chrono::system_clock::now();
      ++rounds_;
    }
    pollfd stop{stop_fd_, POLLIN, 0};
    int n = ::poll(&stop, 1, static_cast<int>(std::min<int64_t>(config_.interval.count(), INT32_MAX)));
    if (n != 0) return;  // stopped (or poll failed: nothing to wait with)
  }
}

nlohmann::json StunClientService::describe() const {
  std::lock_guard lock(mutex_);
  nlohmann::json out = stun::describe(last_);
  out["rounds"] = rounds_;
  out["interval"] = format_duration(config_.interval);
  if (rounds_) out["asked_unix"] = std::chrono::duration_cast<std::chrono::seconds>(asked_.time_since_epoch()).count();
  return out;
}

}  // namespace ugate::stun

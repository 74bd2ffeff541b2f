#pragma once
// Keeps the node's certificate fresh without a restart: a thread that sleeps
// until the renewal time (half the certificate's life), renews it from its
// source (local CA, or the remote CA over mTLS), and swaps it into the
// MeshIdentity, so new connections use it and open ones keep theirs.
// Certificates managed outside ugate (Istio's mounted files) are re-read
// when they change. Failures are retried with a backoff and counted.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "identity/mesh_identity.h"
#include "identity/identity_config.h"

namespace ugate {

class IdentityRenewer {
 public:
  static constexpr std::chrono::seconds kFilesPoll{5};
  static constexpr std::chrono::seconds kMaxRetry{30};

  IdentityRenewer(IdentityConfig cfg, std::string state_dir, MeshIdentity& mesh);
  ~IdentityRenewer();  // stops the thread
  IdentityRenewer(const IdentityRenewer&) = delete;
  IdentityRenewer& operator=(const IdentityRenewer&) = delete;

  uint64_t renewed() const { return renewed_.load(std::memory_order_relaxed); }
  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }

 private:
  void run();
  bool sleep_until(std::chrono::system_clock::time_point t);  // false: stopping
  std::string files_stamp() const;

  IdentityConfig cfg_;
  std::string state_dir_;
  MeshIdentity& mesh_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<uint64_t> renewed_{0};
  std::atomic<uint64_t> failed_{0};
  std::thread thread_;
};

}  // namespace ugate

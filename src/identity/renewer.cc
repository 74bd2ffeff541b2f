#include "identity/renewer.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>

namespace ugate {

using Clock = std::chrono::system_clock;

IdentityRenewer::IdentityRenewer(IdentityConfig cfg, std::string state_dir, MeshIdentity& mesh)
    : cfg_(std::move(cfg)), state_dir_(std::move(state_dir)), mesh_(mesh), thread_([this] { run(); }) {}

IdentityRenewer::~IdentityRenewer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool IdentityRenewer::sleep_until(Clock::time_point t) {
  std::unique_lock lock(mutex_);
  wake_.wait_until(lock, t, [this] { return stopping_; });
  return !stopping_;
}

// Modification times and sizes of the files, to see that someone replaced them.
std::string IdentityRenewer::files_stamp() const {
  IdentityPaths p = identity_paths(cfg_, state_dir_);
  std::vector<std::string> files = p.roots;
  files.push_back(p.cert);
  files.push_back(p.key);
  std::string stamp;
  for (const auto& f : files) {
    struct stat st{};
    if (::stat(f.c_str(), &st) == 0)
      stamp += std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ":" +
               std::to_string(st.st_size) + ";";
  }
  return stamp;
}

void IdentityRenewer::run() {
  std::chrono::seconds retry{1};
  std::string stamp = files_stamp();
  for (;;) {
    auto current = mesh_.state()->id;
    bool watch_files = current->source == CertSource::kFiles;
    auto due = watch_files ? Clock::now() + kFilesPoll : renewal_time(*current);
    if (!sleep_until(due)) return;
    if (watch_files) {
      std::string now_stamp = files_stamp();
      if (now_stamp == stamp) continue;
    }
    try {
      auto next = renew_identity(cfg_, state_dir_, *current);
      mesh_.replace(next);
      renewed_.fetch_add(1, std::memory_order_relaxed);
      retry = std::chrono::seconds(1);
      stamp = files_stamp();
      spdlog::info("identity: {} {}, valid until {}", watch_files ? "reloaded" : "renewed", next->spiffe.str(),
                   format_utc(next->not_after));
    } catch (const std::exception& e) {
      failed_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("identity: renewal failed (retrying in {}s): {}", retry.count(), e.what());
      if (!sleep_until(Clock::now() + retry)) return;
      retry = std::min(retry * 2, kMaxRetry);
    }
  }
}

}  // namespace ugate

#include "admin/process_stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

namespace ugate {
namespace {

// Both stay open for the life of the process; reads rewind them.
struct ProcFiles {
  int statm = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  int fd_dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  std::mutex lock;  // the file offsets are shared by the callers
};

ProcFiles& proc() {
  static ProcFiles files;
  return files;
}

// Opened before main(), while descriptors are plenty.
[[maybe_unused]] const ProcFiles& opened_at_start = proc();

}  // namespace

std::optional<uint64_t> resident_bytes() {
  ProcFiles& p = proc();
  if (p.statm < 0) return std::nullopt;
  char text[128];
  ssize_t n = ::pread(p.statm, text, sizeof text - 1, 0);
  if (n <= 0) return std::nullopt;
  text[n] = '\0';
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(text, "%llu %llu", &size, &resident) != 2) return std::nullopt;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::optional<uint64_t> open_fds() {
  ProcFiles& p = proc();
  if (p.fd_dir < 0) return std::nullopt;
  std::lock_guard guard(p.lock);
  if (::lseek(p.fd_dir, 0, SEEK_SET) != 0) return std::nullopt;
  // getdents64 on the held descriptor: opendir() would need a new one.
  alignas(8) char buf[8192];
  uint64_t entries = 0;
  for (;;) {
    long n = ::syscall(SYS_getdents64, p.fd_dir, buf, sizeof buf);
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<const struct dirent64*>(buf + off);
      if (d->d_name[0] != '.') ++entries;
      off += d->d_reclen;
    }
  }
  return entries;  // fd_dir included: it is open
}

}  // namespace ugate

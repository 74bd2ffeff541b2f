#include "runtime/buffer_pool.h"

#include <fcntl.h>
#include <unistd.h>

namespace ugate {

Buffer BufferPool::acquire(unsigned cls) {
  auto& list = free_[cls];
  if (!list.empty()) {
    Buffer b(std::move(list.back()), cls);
    list.pop_back();
    return b;
  }
  // Not value-initialised: bytes are always written before they are read.
  return Buffer(std::unique_ptr<char[]>(new char[AdaptiveSize::kMinSize << cls]), cls);
}

void BufferPool::release(Buffer& b) {
  if (!b) return;
  auto& list = free_[b.cls_];
  if (list.size() < kKeepPerClass) list.push_back(std::move(b.data_));
  b.data_.reset();
}

size_t BufferPool::cached_bytes() const {
  size_t total = 0;
  for (unsigned c = 0; c < free_.size(); ++c) total += free_[c].size() * (AdaptiveSize::kMinSize << c);
  return total;
}

void BufferPool::clear() {
  for (auto& list : free_) std::vector<std::unique_ptr<char[]>>().swap(list);
}

Pipe& Pipe::operator=(Pipe&& o) noexcept {
  if (this != &o) {
    close();
    r_ = o.r_;
    w_ = o.w_;
    o.r_ = o.w_ = -1;
  }
  return *this;
}

void Pipe::close() {
  if (r_ >= 0) ::close(r_);
  if (w_ >= 0) ::close(w_);
  r_ = w_ = -1;
}

Pipe PipePool::acquire() {
  if (!free_.empty()) {
    Pipe p = std::move(free_.back());
    free_.pop_back();
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
  // A larger pipe moves more per splice call; the kernel may refuse above
  // /proc/sys/fs/pipe-max-size, and the default (64 KiB) still works.
  (void)::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(pipe_size_));
  return Pipe(fds[0], fds[1]);
}

void PipePool::release(Pipe& p) {
  if (!p) return;
  if (free_.size() < kKeep) free_.push_back(std::move(p));
  else p.close();
}

}  // namespace ugate

#pragma once
// Per-worker caches of the two resources a moving stream borrows and an idle
// stream gives back: copy buffers (by AdaptiveSize class) and splice pipes.
// Single-threaded: each worker has its own.
#include <array>
#include <cstddef>
#include <memory>
#include <vector>

#include "runtime/adaptive_size.h"

namespace ugate {

class Buffer {
 public:
  Buffer() = default;
  Buffer(std::unique_ptr<char[]> data, unsigned cls) : data_(std::move(data)), cls_(cls) {}
  explicit operator bool() const { return data_ != nullptr; }
  char* data() const { return data_.get(); }
  size_t size() const { return AdaptiveSize::kMinSize << cls_; }
  unsigned size_class() const { return cls_; }

 private:
  friend class BufferPool;
  std::unique_ptr<char[]> data_;
  unsigned cls_ = 0;
};

class BufferPool {
 public:
  static constexpr size_t kKeepPerClass = 8;
  Buffer acquire(unsigned cls);
  void release(Buffer& b);  // leaves b empty
  size_t cached_bytes() const;
  void clear();  // frees every cached buffer

 private:
  std::array<std::vector<std::unique_ptr<char[]>>, AdaptiveSize::kClasses> free_;
};

// A pipe for splice(2): bytes move socket -> pipe -> socket without a copy
// to user space. Closing it drops whatever it still holds.
class Pipe {
 public:
  Pipe() = default;
  Pipe(int r, int w) : r_(r), w_(w) {}
  Pipe(Pipe&& o) noexcept : r_(o.r_), w_(o.w_) { o.r_ = o.w_ = -1; }
  Pipe& operator=(Pipe&& o) noexcept;
  ~Pipe() { close(); }
  explicit operator bool() const { return r_ >= 0; }
  int read_end() const { return r_; }
  int write_end() const { return w_; }
  void close();

 private:
  int r_ = -1, w_ = -1;
};

class PipePool {
 public:
  static constexpr size_t kKeep = 32;
  explicit PipePool(size_t pipe_size = 1 << 20) : pipe_size_(pipe_size) {}
  // An empty pipe, or an empty Pipe when the process is out of descriptors.
  Pipe acquire();
  // Only empty pipes come back here; b is left empty.
  void release(Pipe& p);
  size_t pipe_size() const { return pipe_size_; }
  size_t cached() const { return free_.size(); }

 private:
  size_t pipe_size_;
  std::vector<Pipe> free_;
};

}  // namespace ugate

#pragma once
// AdaptiveSize: how big the copy loop's buffer should be for one direction.
// Grows while reads keep filling the buffer (sustained traffic), shrinks when
// reads stay small or the stream goes quiet. The buffer itself is only held
// while bytes are moving (see BufferPool), so an idle stream holds none.
#include <cstddef>
#include <cstdint>

namespace ugate {

class AdaptiveSize {
 public:
  static constexpr size_t kMinSize = 4 * 1024;
  static constexpr size_t kStartSize = 16 * 1024;
  static constexpr size_t kMaxSize = 256 * 1024;
  static constexpr unsigned kClasses = 7;         // 4K, 8K, ... 256K
  static constexpr unsigned kSmallReadsToShrink = 4;

  size_t size() const { return kMinSize << cls_; }
  unsigned size_class() const { return cls_; }

  // A read returned n bytes into a buffer of size().
  void on_read(size_t n) {
    if (n >= size()) {
      if (cls_ + 1u < kClasses) ++cls_;
      small_reads_ = 0;
    } else if (n < size() / 4) {
      if (++small_reads_ >= kSmallReadsToShrink) {
        if (cls_ > 0) --cls_;
        small_reads_ = 0;
      }
    } else {
      small_reads_ = 0;
    }
  }

  // The stream was quiet for a while: start again from the initial size.
  void on_quiet() {
    cls_ = kStartClass;
    small_reads_ = 0;
  }

 private:
  static constexpr uint8_t kStartClass = 2;  // 16 KiB
  static_assert((kMinSize << kStartClass) == kStartSize);
  uint8_t cls_ = kStartClass;
  uint8_t small_reads_ = 0;
};

}  // namespace ugate

#pragma once
// Result<T, E>: a value or an error code, for code that reports bad input
// without exceptions (parsers, crypto, protocol checks). std::expected is C++23.
#include <optional>
#include <utility>

namespace ugate {

template <class T, class E>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}
  Result(E error) : error_(error) {}

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  E error() const { return error_; }  // meaningful only when !ok()

 private:
  std::optional<T> value_;
  E error_{};
};

}  // namespace ugate

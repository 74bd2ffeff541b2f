#pragma once
// Result<T, E>: a value or an error. The one shape every sans-I/O parser and
// check returns (std::expected's, which is C++23 and missing from GCC 12; this
// is the part we use, so moving to it later is mechanical).
//
// E is the module's one error enum (http1::Error, socks5::Error, HelloError,
// jwt::Error, ...), with a to_string() that says what was wrong. An error that
// must carry another module's (a ClientHello's inside a sniff, a JWT's inside
// a VAPID header) is a small struct of the module's enum plus that one.
//
// Incremental parsers, called with every byte received so far, give their
// enum a kNeedMore value: "a valid prefix so far; call again with more". It is
// an error like the others, so a caller that cannot wait for more (a whole
// datagram, a closed stream) needs no extra case, and need_more() exists only
// where E has it. A parser that reads a prefix of its input says how many
// bytes it took in its value (a `size` field). At a call site:
//
//   auto head = http1::parse_request_head(buf.data());
//   if (head.need_more()) -> read more, call again
//   if (!head) -> refuse, to_string(head.error())
//   buf.consume(head->size); use *head
//
// std::optional stays for look-ups and conversions with a single way to
// fail (parse_duration, base64url_decode, parse_spiffe_id).
#include <optional>
#include <utility>

namespace ugate {

template <class T, class E>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}
  Result(E error) : error_(std::move(error)) {}

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  // The parser saw a valid prefix and needs more bytes (E has kNeedMore).
  bool need_more() const
    requires requires { E::kNeedMore; }
  {
    return !ok() && error_ == E::kNeedMore;
  }

  // The value: only when ok().
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T&& operator*() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  // The error: meaningful only when !ok().
  const E& error() const { return error_; }

 private:
  std::optional<T> value_;
  E error_{};
};

}  // namespace ugate

#pragma once
// HTTP/1.x for the HTTP proxy door, sans I/O: request and response heads,
// message body framing (RFC 9112 section 6), a scanner that finds the end of
// a chunked body without changing it, and the absolute-form request target.
// Strict where leniency lets two parsers disagree (request smuggling): CRLF
// line ends only, no obs-fold, one Content-Length, no Content-Length beside
// Transfer-Encoding. Malformed input is an error, never a crash (libFuzzer
// target tests/fuzz/http1_fuzz.cc).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/endpoint.h"

namespace ugate::http1 {

struct Header {
  std::string name;
  std::string value;
};

// A request head (method, target) or a response head (status, reason).
struct Head {
  std::string method;
  std::string target;
  int status = 0;
  std::string reason;
  int minor = 1;  // HTTP/1.minor
  std::vector<Header> headers;

  // The first header called `name` (any case), or nullptr.
  const std::string* find(std::string_view name) const;
  // Whether a comma-separated header (Connection, ...) lists `token` (any case).
  bool lists(std::string_view name, std::string_view token) const;
};

enum class Status : uint8_t { kNeedMore, kDone, kError };

struct Parsed {
  Status status = Status::kNeedMore;
  size_t used = 0;          // kDone: bytes of the head, blank line included
  Head head;                // kDone
  std::string_view error;   // kError: what was wrong
};

inline constexpr size_t kMaxHeaders = 128;

// A whole head, once its blank line arrived. Bytes seen so far are checked as
// they come, so garbage is an error at once rather than after a timeout.
Parsed parse_request_head(std::span<const uint8_t> in);
Parsed parse_response_head(std::span<const uint8_t> in);

enum class BodyKind : uint8_t { kNone, kLength, kChunked, kUntilClose };
struct Framing {
  BodyKind kind = BodyKind::kNone;
  uint64_t length = 0;  // kLength
};
// A request's body; nullopt when its framing headers are invalid or ambiguous.
std::optional<Framing> request_framing(const Head& request);
// A response's body, which also depends on the request (HEAD) and the status.
std::optional<Framing> response_framing(const Head& response, std::string_view request_method);

// Follows a chunked body as it passes by, to find where it ends (after the
// last chunk and the trailer section); the bytes themselves pass unchanged.
class ChunkedScanner {
 public:
  static constexpr size_t kMaxLine = 4096;  // a chunk-size line or a trailer line
  // How many of `in` belong to the body: all of them, or up to its end.
  size_t scan(std::span<const uint8_t> in);
  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }

 private:
  enum class State : uint8_t { kSize, kExtension, kSizeLf, kData, kDataCr, kDataLf, kTrailerStart, kTrailer,
                               kTrailerLf, kLastLf, kDone, kError };
  State state_ = State::kSize;
  uint64_t size_ = 0;
  size_t digits_ = 0;
  size_t line_ = 0;
};

// `http://host[:port]/path?query` (the absolute form a proxy receives).
struct AbsoluteUri {
  HostPort destination;   // port 80 when none is given
  std::string authority;  // as written: for the Host header
  std::string path;       // origin form: "/" at least
};
std::optional<AbsoluteUri> parse_absolute_uri(std::string_view target);

// `host:port` of a CONNECT request (port required).
std::optional<HostPort> parse_authority(std::string_view target);

// Hop-by-hop headers (RFC 9110 section 7.6.1), which a proxy does not pass
// on: Connection and what it lists, Keep-Alive, Proxy-Connection, TE,
// Upgrade, Proxy-Authorization, Proxy-Authenticate. Transfer-Encoding is
// kept: bodies are relayed as they are, chunks included.
bool is_hop_by_hop(const Head& head, std::string_view name);

// Header names compare without regard to case.
bool same_name(std::string_view a, std::string_view b);

}  // namespace ugate::http1

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
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/endpoint.h"
#include "base/result.h"

namespace ugate::http1 {

// What was wrong; to_string() is the text a 400 or 502 answer carries.
enum class Error : uint8_t {
  kNeedMore = 1,         // a valid prefix of a head: read more
  kCrWithoutLf,          // CR not followed by LF
  kControlCharacter,     // a control character in the head
  kLineWithoutCr,        // a line ends in a bare LF
  kBadRequestLine,       // not METHOD TARGET VERSION
  kBadMethod,
  kBadTarget,
  kBadVersion,           // not HTTP/1.0 or HTTP/1.1
  kBadStatusLine,        // not HTTP/1.x CODE REASON
  kBadStatus,
  kObsoleteFolding,      // a header line continued on the next (obs-fold)
  kBadHeaderLine,
  kTooManyHeaders,       // more than kMaxHeaders
  kTooLarge,             // the head did not fit the caller's buffer (callers say so)
  kBadContentLength,     // not a number, or two different ones
  kLengthWithChunked,    // Content-Length beside Transfer-Encoding
  kNotChunked,           // a request's Transfer-Encoding does not end in chunked
  kChunkedHttp10,        // Transfer-Encoding in an HTTP/1.0 request
  kBadChunkedBody,       // a chunk size, CRLF or trailer line is malformed
  kNotHttpUri,           // not an absolute http:// URI
  kBadAuthority,         // not host[:port] (with a valid port, without userinfo)
};
std::string_view to_string(Error e);

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
  size_t size = 0;  // a parsed head's bytes, blank line included

  // The first header called `name` (any case), or nullptr.
  const std::string* find(std::string_view name) const;
  // Whether a comma-separated header (Connection, ...) lists `token` (any case).
  bool lists(std::string_view name, std::string_view token) const;
};

inline constexpr size_t kMaxHeaders = 128;

// A whole head, once its blank line arrived. Bytes seen so far are checked as
// they come, so garbage is an error at once rather than after a timeout.
Result<Head, Error> parse_request_head(std::span<const uint8_t> in);
Result<Head, Error> parse_response_head(std::span<const uint8_t> in);

enum class BodyKind : uint8_t { kNone, kLength, kChunked, kUntilClose };
struct Framing {
  BodyKind kind = BodyKind::kNone;
  uint64_t length = 0;  // kLength
};
// A request's body; an error when its framing headers are invalid or ambiguous.
Result<Framing, Error> request_framing(const Head& request);
// A response's body, which also depends on the request (HEAD) and the status.
Result<Framing, Error> response_framing(const Head& response, std::string_view request_method);

// Follows a chunked body as it passes by, to find where it ends (after the
// last chunk and the trailer section); the bytes themselves pass unchanged.
class ChunkedScanner {
 public:
  static constexpr size_t kMaxLine = 4096;  // a chunk-size line or a trailer line
  // How many of `in` belong to the body: all of them, or up to its end
  // (then done()); kBadChunkedBody from the first malformed byte on.
  Result<size_t, Error> scan(std::span<const uint8_t> in);
  bool done() const { return state_ == State::kDone; }

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
Result<AbsoluteUri, Error> parse_absolute_uri(std::string_view target);

// `host:port` of a CONNECT request (port required).
Result<HostPort, Error> parse_authority(std::string_view target);

// Hop-by-hop headers (RFC 9110 section 7.6.1), which a proxy does not pass
// on: Connection and what it lists, Keep-Alive, Proxy-Connection, TE,
// Upgrade, Proxy-Authorization, Proxy-Authenticate. Transfer-Encoding is
// kept: bodies are relayed as they are, chunks included.
bool is_hop_by_hop(const Head& head, std::string_view name);

// Header names compare without regard to case.
bool same_name(std::string_view a, std::string_view b);

}  // namespace ugate::http1

#include "codec/http1_codec.h"

#include <algorithm>
#include <charconv>
#include <limits>

namespace ugate::http1 {

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

namespace {
const auto iequals = same_name;

// tchar (RFC 9110 section 5.6.2)
bool is_tchar(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}
bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}
// Field values and request targets: visible bytes, spaces, tabs, obs-text.
bool is_field_byte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}


// "HTTP/1.x": the minor version, or -1.
int parse_version(std::string_view v) {
  if (v.size() != 8 || !v.starts_with("HTTP/1.") || (v[7] != '0' && v[7] != '1')) return -1;
  return v[7] - '0';
}

// The first line into `h`; nullopt when it is valid.
std::optional<Error> parse_request_line(std::string_view line, Head& h) {
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return Error::kBadRequestLine;
  std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (!is_token(method)) return Error::kBadMethod;
  if (target.empty() || !std::all_of(target.begin(), target.end(), [](char c) {
        return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) != 0x7f;
      }))
    return Error::kBadTarget;
  h.minor = parse_version(line.substr(sp2 + 1));
  if (h.minor < 0) return Error::kBadVersion;
  h.method = method;
  h.target = target;
  return std::nullopt;
}

std::optional<Error> parse_status_line(std::string_view line, Head& h) {
  h.minor = parse_version(line.substr(0, 8));
  if (h.minor < 0 || line.size() < 12 || line[8] != ' ') return Error::kBadStatusLine;
  std::string_view code = line.substr(9, 3);
  if (!std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }) || code[0] == '0')
    return Error::kBadStatus;
  if (line.size() > 12 && line[12] != ' ') return Error::kBadStatus;
  h.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  h.reason = line.size() > 13 ? line.substr(13) : std::string_view();
  return std::nullopt;
}

using FirstLine = std::optional<Error> (*)(std::string_view, Head&);

Result<Head, Error> parse_head(std::span<const uint8_t> bytes, FirstLine first_line) {
  std::string_view in(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  Head head;
  size_t pos = 0;
  bool first = true;
  int blank_lines = 0;
  for (;;) {
    size_t eol = in.find('\n', pos);
    std::string_view partial = in.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    // Check what has arrived of this line already: garbage fails fast.
    for (size_t i = 0; i < partial.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(partial[i]);
      if (c == '\r' && i + 1 == partial.size()) continue;  // the line's end (or its LF is still to come)
      if (!is_field_byte(c)) return c == '\r' ? Error::kCrWithoutLf : Error::kControlCharacter;
    }
    if (eol == std::string_view::npos) return Error::kNeedMore;
    if (partial.empty() || partial.back() != '\r') return Error::kLineWithoutCr;
    std::string_view line = partial.substr(0, partial.size() - 1);
    pos = eol + 1;
    if (first && line.empty() && ++blank_lines <= 2) continue;  // a stray CRLF after a previous body
    if (first) {
      if (auto why = first_line(line, head)) return *why;
      first = false;
      continue;
    }
    if (line.empty()) {
      head.size = pos;
      return head;
    }
    if (line.front() == ' ' || line.front() == '\t') return Error::kObsoleteFolding;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return Error::kBadHeaderLine;
    if (head.headers.size() >= kMaxHeaders) return Error::kTooManyHeaders;
    head.headers.push_back({std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1)))});
  }
}

std::optional<uint64_t> parse_length(std::string_view v) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
  return n;
}

// Content-Length, which may repeat (also as a list) only with one value.
std::optional<std::optional<uint64_t>> content_length(const Head& h) {
  std::optional<uint64_t> length;
  for (const auto& hd : h.headers) {
    if (!iequals(hd.name, "content-length")) continue;
    std::string_view rest = hd.value;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto n = parse_length(trim(rest.substr(0, comma)));
      if (!n || (length && *length != *n)) return std::nullopt;
      length = n;
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  return length;
}

// The last transfer coding listed, lower case ("" when none).
std::string last_coding(const Head& h, bool& present) {
  std::string last;
  present = false;
  for (const auto& hd : h.headers) {
    if (!iequals(hd.name, "transfer-encoding")) continue;
    present = true;
    std::string_view v = hd.value;
    auto comma = v.rfind(',');
    std::string_view c = trim(comma == std::string_view::npos ? v : v.substr(comma + 1));
    last.assign(c.begin(), c.end());
    std::transform(last.begin(), last.end(), last.begin(), [](unsigned char x) { return std::tolower(x); });
  }
  return last;
}

}  // namespace

std::string_view to_string(Error e) {
  switch (e) {
    case Error::kNeedMore: return "incomplete head";
    case Error::kCrWithoutLf: return "CR not followed by LF";
    case Error::kControlCharacter: return "control character in the head";
    case Error::kLineWithoutCr: return "line ends without CR";
    case Error::kBadRequestLine: return "request line is not METHOD TARGET VERSION";
    case Error::kBadMethod: return "invalid method";
    case Error::kBadTarget: return "invalid request target";
    case Error::kBadVersion: return "not HTTP/1.0 or HTTP/1.1";
    case Error::kBadStatusLine: return "status line is not HTTP/1.x CODE REASON";
    case Error::kBadStatus: return "invalid status code";
    case Error::kObsoleteFolding: return "obsolete line folding";
    case Error::kBadHeaderLine: return "invalid header line";
    case Error::kTooManyHeaders: return "too many headers";
    case Error::kTooLarge: return "head too large";
    case Error::kBadContentLength: return "invalid Content-Length";
    case Error::kLengthWithChunked: return "Content-Length beside Transfer-Encoding";
    case Error::kNotChunked: return "Transfer-Encoding does not end in chunked";
    case Error::kChunkedHttp10: return "Transfer-Encoding in an HTTP/1.0 request";
    case Error::kBadChunkedBody: return "invalid chunked body";
    case Error::kNotHttpUri: return "not an absolute http:// URI";
    case Error::kBadAuthority: return "invalid authority";
  }
  return "invalid HTTP/1 message";
}

const std::string* Head::find(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h.value;
  return nullptr;
}

bool Head::lists(std::string_view name, std::string_view token) const {
  for (const auto& h : headers) {
    if (!iequals(h.name, name)) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      if (iequals(trim(rest.substr(0, comma)), token)) return true;
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  return false;
}

Result<Head, Error> parse_request_head(std::span<const uint8_t> in) { return parse_head(in, parse_request_line); }
Result<Head, Error> parse_response_head(std::span<const uint8_t> in) { return parse_head(in, parse_status_line); }

Result<Framing, Error> request_framing(const Head& r) {
  bool te = false;
  std::string coding = last_coding(r, te);
  auto length = content_length(r);
  if (!length) return Error::kBadContentLength;
  if (te) {
    // Both, or a body whose end only the connection's close would mark, are refused.
    if (*length) return Error::kLengthWithChunked;
    if (coding != "chunked") return Error::kNotChunked;
    if (r.minor == 0) return Error::kChunkedHttp10;
    return Framing{BodyKind::kChunked, 0};
  }
  if (*length) return **length ? Framing{BodyKind::kLength, **length} : Framing{};
  return Framing{};
}

Result<Framing, Error> response_framing(const Head& r, std::string_view request_method) {
  if (iequals(request_method, "HEAD") || r.status < 200 || r.status == 204 || r.status == 304) return Framing{};
  bool te = false;
  std::string coding = last_coding(r, te);
  if (te) return coding == "chunked" ? Framing{BodyKind::kChunked, 0} : Framing{BodyKind::kUntilClose, 0};
  auto length = content_length(r);
  if (!length) return Error::kBadContentLength;
  if (*length) return Framing{BodyKind::kLength, **length};
  return Framing{BodyKind::kUntilClose, 0};
}

Result<size_t, Error> ChunkedScanner::scan(std::span<const uint8_t> in) {
  if (state_ == State::kError) return Error::kBadChunkedBody;
  size_t i = 0;
  auto fail = [&] {
    state_ = State::kError;
    return Error::kBadChunkedBody;
  };
  while (i < in.size() && state_ != State::kDone && state_ != State::kError) {
    if (state_ == State::kData) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(size_, in.size() - i));
      i += n;
      size_ -= n;
      if (size_ == 0) state_ = State::kDataCr;
      continue;
    }
    uint8_t c = in[i++];
    switch (state_) {
      case State::kSize: {
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (digit >= 0) {
          if (++digits_ > 15) return fail();  // larger than any body we would relay
          size_ = size_ * 16 + static_cast<uint64_t>(digit);
        } else if (digits_ > 0 && (c == ';' || c == ' ' || c == '\t')) {
          state_ = State::kExtension;
          line_ = 0;
        } else if (digits_ > 0 && c == '\r') {
          state_ = State::kSizeLf;
        } else {
          return fail();
        }
        break;
      }
      case State::kExtension:
        if (c == '\r') state_ = State::kSizeLf;
        else if (!is_field_byte(c) || ++line_ > kMaxLine) return fail();
        break;
      case State::kSizeLf:
        if (c != '\n') return fail();
        digits_ = 0;
        state_ = size_ == 0 ? State::kTrailerStart : State::kData;
        break;
      case State::kDataCr:
        if (c != '\r') return fail();
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') return fail();
        state_ = State::kSize;
        break;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kLastLf;
        } else if (is_tchar(c)) {
          state_ = State::kTrailer;
          line_ = 1;
        } else {
          return fail();
        }
        break;
      case State::kTrailer:
        if (c == '\r') state_ = State::kTrailerLf;
        else if (!is_field_byte(c) || ++line_ > kMaxLine) return fail();
        break;
      case State::kTrailerLf:
        if (c != '\n') return fail();
        state_ = State::kTrailerStart;
        break;
      case State::kLastLf:
        if (c != '\n') return fail();
        state_ = State::kDone;
        break;
      default: return fail();
    }
  }
  return i;
}

Result<AbsoluteUri, Error> parse_absolute_uri(std::string_view target) {
  constexpr std::string_view scheme = "http://";
  if (target.size() < scheme.size() || !iequals(target.substr(0, scheme.size()), scheme)) return Error::kNotHttpUri;
  std::string_view rest = target.substr(scheme.size());
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  path = path.substr(0, path.find('#'));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return Error::kBadAuthority;
  AbsoluteUri uri;
  uri.authority = authority;
  // Without a port the default one applies; a bracketed IPv6 literal keeps its brackets.
  bool has_port = authority.back() != ']' && authority.find(':') != std::string_view::npos;
  auto hp = parse_host_port(has_port ? std::string(authority) : std::string(authority) + ":80");
  if (!hp) return Error::kBadAuthority;
  uri.destination = *hp;
  uri.path = path.empty() || path.front() != '/' ? "/" + std::string(path) : std::string(path);
  return uri;
}

Result<HostPort, Error> parse_authority(std::string_view target) {
  auto hp = parse_host_port(target);
  if (!hp) return Error::kBadAuthority;
  return std::move(*hp);
}

bool is_hop_by_hop(const Head& head, std::string_view name) {
  for (std::string_view h : {"connection", "keep-alive", "proxy-connection", "te", "upgrade", "proxy-authorization",
                             "proxy-authenticate"})
    if (iequals(name, h)) return true;
  return head.lists("connection", name);
}

}  // namespace ugate::http1

#include "runtime/access_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace ugate {
namespace {

void append_time(std::string& out, std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

// JSON string body; also keeps text lines on one line.
void append_escaped(std::string& out, std::string_view s) {
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
}

}  // namespace

void format_access_line(std::string& out, const StreamMeta& m, AccessLogConfig::Format format) {
  auto now = std::chrono::system_clock::now();
  auto dur_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - m.start_mono).count();
  std::string dst = m.destination.empty() ? std::string("-") : m.destination.str();
  auto field = [&](std::string_view key, std::string_view value, bool quote) {
    if (format == AccessLogConfig::Format::kJson) {
      fmt::format_to(std::back_inserter(out), ",\"{}\":", key);
      if (quote) out += '"';
      append_escaped(out, value);
      if (quote) out += '"';
    } else {
      fmt::format_to(std::back_inserter(out), " {}=", key);
      append_escaped(out, value.empty() ? "-" : value);
    }
  };
  if (format == AccessLogConfig::Format::kJson) {
    out += "{\"time\":\"";
    append_time(out, now);
    out += '"';
  } else {
    append_time(out, now);
  }
  field("id", std::to_string(m.id), false);
  field("listener", m.listener, true);
  field("protocol", m.protocol, true);
  field("sniffed", m.sniffed, true);
  field("src", format_endpoint(m.source), true);
  field("dst", dst, true);
  field("orig_dst", format_endpoint(m.original_dst), true);
  field("upstream", format_endpoint(m.upstream), true);
  field("user", m.user, true);
  field("peer_spiffe", m.peer_spiffe(), true);
  field("peer_node", m.peer_node(), true);
  if (m.unix_peer) {  // only on Unix socket listeners: other lines keep their fields
    field("peer_pid", std::to_string(m.unix_peer->pid), false);
    field("peer_uid", std::to_string(m.unix_peer->uid), false);
    field("peer_gid", std::to_string(m.unix_peer->gid), false);
  }
  std::string authz = m.authz_rule.empty() ? "" : std::string(m.authz_allowed ? "allow:" : "deny:") + std::string(m.authz_rule);
  field("authz", authz, true);
  field("sni", m.sni, true);
  field("alpn", m.alpn, true);
  field("mode", to_string(m.mode), true);
  field("duration_ms", std::to_string(dur_ms), false);
  field("bytes_up", std::to_string(m.bytes_up), false);
  field("bytes_down", std::to_string(m.bytes_down), false);
  field("result", to_string(m.reason), true);
  if (format == AccessLogConfig::Format::kJson) out += '}';
}

std::unique_ptr<AccessLogSink> AccessLogSink::open(const AccessLogConfig& c) {
  if (c.path == "off") return nullptr;
  if (c.path == "stdout") return std::unique_ptr<AccessLogSink>(new AccessLogSink(STDOUT_FILENO, false, c.format));
  if (c.path == "stderr") return std::unique_ptr<AccessLogSink>(new AccessLogSink(STDERR_FILENO, false, c.format));
  int fd = ::open(c.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) throw ConfigError("access_log.path: cannot open '" + c.path + "': " + std::strerror(errno));
  return std::unique_ptr<AccessLogSink>(new AccessLogSink(fd, true, c.format));
}

AccessLogSink::~AccessLogSink() {
  if (owned_) ::close(fd_);
}

void AccessLogSink::write(std::string_view lines) {
  std::lock_guard lock(mutex_);
  while (!lines.empty()) {
    ssize_t n = ::write(fd_, lines.data(), lines.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a broken log destination must not stop the data plane
    lines.remove_prefix(static_cast<size_t>(n));
  }
}

void AccessLog::record(const StreamMeta& meta) {
  if (!sink_) return;
  format_access_line(buffer_, meta, sink_->format());
  buffer_ += '\n';
  if (buffer_.size() >= kFlushAt) flush();
}

void AccessLog::flush() {
  if (!sink_ || buffer_.empty()) return;
  sink_->write(buffer_);
  buffer_.clear();
}

}  // namespace ugate

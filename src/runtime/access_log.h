#pragma once
// One line per stream when it closes, as text (key=value) or JSON. Each worker
// buffers its lines and hands them to the shared sink on its tick, so the data
// path makes no write(2) per stream.
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/config_error.h"
#include "base/meta.h"

namespace ugate {

struct AccessLogConfig {
  enum class Format { kText, kJson };
  std::string path = "stdout";  // stdout | stderr | off | a file (appended, mode 0640)
  Format format = Format::kText;
};

class AccessLogSink {
 public:
  // nullptr when the config says off; throws ConfigError when the file cannot be opened.
  static std::unique_ptr<AccessLogSink> open(const AccessLogConfig& config);
  ~AccessLogSink();
  void write(std::string_view lines);
  AccessLogConfig::Format format() const { return format_; }

 private:
  AccessLogSink(int fd, bool owned, AccessLogConfig::Format format) : fd_(fd), owned_(owned), format_(format) {}
  std::mutex mutex_;
  int fd_;
  bool owned_;
  AccessLogConfig::Format format_;
};

class AccessLog {
 public:
  static constexpr size_t kFlushAt = 64 * 1024;
  explicit AccessLog(AccessLogSink* sink) : sink_(sink) {}
  ~AccessLog() { flush(); }
  void record(const StreamMeta& meta);
  void flush();

 private:
  AccessLogSink* sink_;
  std::string buffer_;
};

// Appends the line for `meta` (without the newline); exposed for tests.
void format_access_line(std::string& out, const StreamMeta& meta, AccessLogConfig::Format format);

}  // namespace ugate

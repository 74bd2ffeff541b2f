#pragma once
// The YAML side of the config reader: a Reader that names FILE:LINE and the
// key path in every error, and the parser that checks the document's shape
// (nesting, duplicate keys, keys that are not single values) first.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <string>
#include <vector>

#include "base/config_error.h"
#include "base/duration.h"
#include "base/endpoint.h"

namespace ugate::config_yaml {

// Reads one YAML document, keeping the file name and the key path for errors.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& key, const std::string& problem) const {
    fail_at(at.IsDefined() ? at.Mark() : YAML::Mark::null_mark(), key, problem);
  }

  [[noreturn]] void fail_at(const YAML::Mark& at, const std::string& key, const std::string& problem) const {
    throw ConfigError(where(at) + ": " + (key.empty() ? std::string("(top level)") : key) + ": " + problem);
  }

  // FILE:LINE, or FILE when the line is unknown.
  std::string where(const YAML::Mark& at) const {
    return at.line >= 0 ? source_ + ":" + std::to_string(at.line + 1) : source_;
  }

  void only_keys(const YAML::Node& map, const std::string& where, std::initializer_list<const char*> allowed) const {
    if (!map.IsMap()) fail(map, where, "expected a mapping (key: value)");
    for (const auto& kv : map) {
      auto key = kv.first.as<std::string>();
      if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; })) {
        std::string list;
        for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
        fail(kv.first, join(where, key), "unknown key (expected one of: " + list + ")");
      }
    }
  }

  // A list of single values; a single value is a list of one.
  std::vector<std::string> scalars(const YAML::Node& n, const std::string& key) const {
    if (n.IsScalar()) return {n.Scalar()};
    if (!n.IsSequence()) fail(n, key, "expected a list of values");
    std::vector<std::string> out;
    for (size_t i = 0; i < n.size(); ++i) out.push_back(scalar(n[i], key + "[" + std::to_string(i) + "]"));
    return out;
  }

  std::string scalar(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail(n, key, "expected a single value");
    return n.Scalar();
  }

  Duration duration(const YAML::Node& n, const std::string& key) const {
    auto d = parse_duration(scalar(n, key));
    if (!d) fail(n, key, "invalid duration '" + n.Scalar() + "' (examples: 250ms, 5s, 2m, 1h)");
    return *d;
  }

  bool boolean(const YAML::Node& n, const std::string& key) const {
    std::string v = scalar(n, key);
    if (v == "true" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "no" || v == "off") return false;
    fail(n, key, "expected true or false, got '" + v + "'");
  }

  uint64_t number(const YAML::Node& n, const std::string& key, uint64_t max) const {
    std::string v = scalar(n, key);
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
    if (ec != std::errc() || end != v.data() + v.size() || value > max)
      fail(n, key, "expected a whole number from 0 to " + std::to_string(max) + ", got '" + v + "'");
    return value;
  }

  // A byte count: a whole number, optionally with KiB/MiB/GiB (or K/M/G) after it.
  uint64_t size(const YAML::Node& n, const std::string& key, uint64_t min, uint64_t max) const {
    std::string v = scalar(n, key);
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
    std::string_view unit(end, static_cast<size_t>(v.data() + v.size() - end));
    uint64_t scale = unit.empty()                      ? 1
                     : unit == "K" || unit == "KiB" ? 1024
                     : unit == "M" || unit == "MiB" ? 1 << 20
                     : unit == "G" || unit == "GiB" ? 1 << 30
                                                    : 0;
    if (ec != std::errc() || scale == 0 || value > max / scale || value * scale < min)
      fail(n, key, "expected a size from " + std::to_string(min) + " to " + std::to_string(max) +
                       " bytes (a number, or with KiB, MiB or GiB), got '" + v + "'");
    return value * scale;
  }

  // HOST:PORT, where PORT may be "+N" for BASE+N.
  HostPort address(const YAML::Node& n, const std::string& key, uint16_t base, bool allow_zero) const {
    std::string text = scalar(n, key);
    auto colon = text.rfind(':');
    if (colon != std::string::npos && colon + 1 < text.size() && text[colon + 1] == '+') {
      uint64_t offset = 0;
      auto [end, ec] = std::from_chars(text.data() + colon + 2, text.data() + text.size(), offset);
      if (ec != std::errc() || end != text.data() + text.size() || base + offset > 65535)
        fail(n, key, "invalid port offset in '" + text + "' (BASE+N must stay below 65536)");
      text = text.substr(0, colon + 1) + std::to_string(base + offset);
    }
    std::string why;
    auto hp = parse_host_port(text, &why, allow_zero);
    if (!hp) fail(n, key, why + " in '" + scalar(n, key) + "'");
    return *hp;
  }

  static std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

 private:
  std::string source_;
};

// Parses the document, once for the shape check and once into the tree.
YAML::Node parse_yaml(const Reader& r, const std::string& yaml);

}  // namespace ugate::config_yaml

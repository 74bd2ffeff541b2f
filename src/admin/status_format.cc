#include "admin/status_format.h"

namespace ugate {

std::string human_seconds(int64_t s) {
  if (s < 0) return "-" + human_seconds(-s);
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m " + std::to_string(s % 60) + "s";
  if (s < 86400) return std::to_string(s / 3600) + "h " + std::to_string(s / 60 % 60) + "m";
  return std::to_string(s / 86400) + "d " + std::to_string(s / 3600 % 24) + "h";
}

std::string mebibytes(uint64_t bytes) {
  uint64_t tenths = bytes * 10 / (1024 * 1024);
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " MiB";
}

std::string json_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

std::string json_field(const nlohmann::json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) ? json_text(obj[key]) : "";
}

std::string errors_text(const nlohmann::json& errors) {
  std::string out;
  for (const auto& [reason, n] : errors.items()) out += (out.empty() ? "" : " ") + reason + "=" + json_text(n);
  return out;
}

}  // namespace ugate

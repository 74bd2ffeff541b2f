#include "identity/spiffe.h"

#include <cctype>

namespace ugate {
namespace {

bool segment_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

std::string_view path_part(std::string_view path, size_t index) {
  size_t at = 0;
  for (size_t i = 0; i <= index; ++i) {
    if (at >= path.size() || path[at] != '/') return {};
    size_t end = path.find('/', at + 1);
    if (end == std::string_view::npos) end = path.size();
    if (i == index) return path.substr(at + 1, end - at - 1);
    at = end;
  }
  return {};
}

bool is_workload_path(std::string_view p) {
  return path_part(p, 0) == "ns" && path_part(p, 2) == "sa" && !path_part(p, 3).empty() && path_part(p, 4).empty();
}

}  // namespace

std::string SpiffeId::ns() const { return is_workload_path(path) ? std::string(path_part(path, 1)) : ""; }
std::string SpiffeId::name() const { return is_workload_path(path) ? std::string(path_part(path, 3)) : ""; }

std::string check_trust_domain(std::string_view td) {
  if (td.empty()) return "empty trust domain";
  if (td.size() > 255) return "trust domain longer than 255 characters";
  for (char c : td) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '.' ||
          c == '-' || c == '_'))
      return "invalid character '" + std::string(1, c) + "' in trust domain (a-z, 0-9, '.', '-', '_')";
  }
  return "";
}

std::string check_path_segment(std::string_view s) {
  if (s.empty() || s == "." || s == "..") return "empty, '.' or '..' path segment";
  for (char c : s) {
    if (!segment_char(c))
      return "invalid character '" + std::string(1, c) + "' (A-Z, a-z, 0-9, '.', '-', '_')";
  }
  return "";
}

std::optional<SpiffeId> parse_spiffe_id(std::string_view text) {
  constexpr std::string_view kScheme = "spiffe://";
  if (text.size() > 2048 || text.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != kScheme[i]) return std::nullopt;
  }
  text.remove_prefix(kScheme.size());
  size_t slash = text.find('/');
  SpiffeId id;
  id.trust_domain = std::string(text.substr(0, slash));
  if (!check_trust_domain(id.trust_domain).empty()) return std::nullopt;
  if (slash == std::string_view::npos) return id;
  std::string_view path = text.substr(slash);
  for (size_t at = 0; at < path.size();) {
    size_t end = path.find('/', at + 1);
    if (end == std::string_view::npos) end = path.size();
    if (!check_path_segment(path.substr(at + 1, end - at - 1)).empty()) return std::nullopt;
    at = end;
  }
  id.path = std::string(path);
  return id;
}

SpiffeId workload_spiffe_id(std::string trust_domain, std::string_view ns, std::string_view name) {
  return SpiffeId{std::move(trust_domain), "/ns/" + std::string(ns) + "/sa/" + std::string(name)};
}

}  // namespace ugate

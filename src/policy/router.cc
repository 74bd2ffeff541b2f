#include "policy/router.h"

#include <algorithm>
#include <cctype>

namespace ugate {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Specificity of `m` for (host, port), or -1 when it does not match.
int score(const RouteMatch& m, std::string_view host, uint16_t port) {
  if (m.port != 0 && m.port != port) return -1;
  int s = m.port != 0 ? 1 : 0;
  if (m.host.empty()) return s;
  if (m.host.starts_with("*.")) {
    std::string_view suffix = std::string_view(m.host).substr(1);  // ".b.test"
    if (host.size() <= suffix.size() || !iequals(host.substr(host.size() - suffix.size()), suffix)) return -1;
    // Longer suffixes are more specific; all wildcards rank below exact names.
    return 2 + 2 * static_cast<int>(std::min<size_t>(suffix.size(), 255)) + s;
  }
  return iequals(host, m.host) ? 1024 + s : -1;
}

}  // namespace

const Route* Router::match(std::string_view host, uint16_t port) const {
  if (host.ends_with('.')) host.remove_suffix(1);  // "a.test." is "a.test"
  const Route* best = nullptr;
  int best_score = -1;
  for (const Route& r : routes_) {
    int s = score(r.match, host, port);
    if (s > best_score) best = &r, best_score = s;
  }
  return best;
}

bool Router::host_matches(std::string_view pattern, std::string_view host) {
  if (host.ends_with('.')) host.remove_suffix(1);
  return score(RouteMatch{std::string(pattern), 0}, host, 0) >= 0;
}

std::string Router::validate_pattern(std::string_view p) {
  if (p.empty()) return "empty host pattern";
  std::string_view name = p.starts_with("*.") ? p.substr(2) : p;
  if (name.empty()) return "wildcard needs a suffix, as in *.example.com";
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':'))
      return "invalid character '" + std::string(1, c) + "' in host pattern (only a leading '*.' is allowed)";
  }
  return "";
}

}  // namespace ugate

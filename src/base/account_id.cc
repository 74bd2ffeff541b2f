#include "base/account_id.h"

#include <grp.h>
#include <pwd.h>

#include <charconv>

namespace ugate {

std::optional<uint32_t> account_id(const std::string& text, bool is_group) {
  uint32_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (!text.empty() && ec == std::errc() && end == text.data() + text.size()) return id;
  if (is_group) {
    if (const struct group* g = ::getgrnam(text.c_str())) return g->gr_gid;
  } else if (const passwd* p = ::getpwnam(text.c_str())) {
    return p->pw_uid;
  }
  return std::nullopt;
}

}  // namespace ugate

#pragma once
// Users and groups as a config or a command line names them: a number, or a
// name the system's account database knows.
#include <cstdint>
#include <optional>
#include <string>

namespace ugate {

// The uid (or, with is_group, the gid) that `text` names; nullopt when it is
// neither a number nor a known name.
std::optional<uint32_t> account_id(const std::string& text, bool is_group);

}  // namespace ugate

#pragma once
// Names of the push service's resources (/s/ID, /p/ID, /m/ID): 128 random
// bits in base64url, so that knowing one is the capability to use it.
#include <string>
#include <string_view>

namespace ugate::webpush {

std::string random_resource_id();
bool is_b64url_char(char c);
// What a path may carry as an ID: 1 to 64 base64url characters (node IDs, base32, are among them).
bool valid_resource_id(std::string_view id);

}  // namespace ugate::webpush

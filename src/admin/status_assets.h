#pragma once
// The status page's style sheet and script, served as /status.css and
// /status.js (the page loads nothing else, and nothing from elsewhere).
#include <string_view>

namespace ugate {

extern const std::string_view kStatusCss;
extern const std::string_view kStatusJs;

}  // namespace ugate

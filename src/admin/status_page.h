#pragma once
// The status page (GET /): the node at a glance, rendered on the server from
// what /debug/status and /debug/streams serve, so it reads without
// JavaScript and every number on it is one those endpoints report. A small
// script (status_assets.cc) refreshes its <main> every second from
// GET /?part=main with the same filter; nothing is fetched from elsewhere.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace ugate {

struct StatusPageQuery {
  std::string filter;      // streams whose fields contain it (any case); "" = all
  bool main_only = false;  // part=main: only the <main> element, for the refresh
};
// The query string after '?', e.g. "filter=10.0.0.2&part=main" (percent and '+' decoded).
StatusPageQuery parse_status_query(std::string_view query);

inline constexpr size_t kMaxStreamRows = 200;  // more matching streams: the first ones, and a note

std::string render_status_page(const nlohmann::json& status, const nlohmann::json& streams, const StatusPageQuery& q);

// Text made safe for HTML content and quoted attribute values.
std::string html_escape(std::string_view text);

}  // namespace ugate

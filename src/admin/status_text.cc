#include "admin/status_text.h"

#include <algorithm>
#include <vector>

#include "admin/status_format.h"

namespace ugate {
namespace {

using json = nlohmann::json;
using Row = std::vector<std::string>;

// Columns padded to their widest cell, two spaces apart; no trailing blanks.
void table(std::string& out, const Row& head, const std::vector<Row>& rows) {
  std::vector<size_t> width(head.size());
  for (size_t i = 0; i < head.size(); ++i) width[i] = head[i].size();
  for (const Row& r : rows)
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  auto line = [&](const Row& r) {
    std::string text;
    for (size_t i = 0; i < r.size(); ++i) {
      text += r[i];
      if (i + 1 < r.size()) text += std::string(width[i] - r[i].size() + 2, ' ');
    }
    text.erase(text.find_last_not_of(' ') + 1);
    out += text + "\n";
  };
  line(head);
  for (const Row& r : rows) line(r);
}

}  // namespace

std::string status_text(const json& s) {
  std::string out;
  const json& id = s["identity"];
  std::string name = json_field(id, "name");
  if (name.empty()) name = json_field(s, "host");
  out += name + ": " + json_field(s, "state") + ", ugate " + json_field(s, "version") + ", up " +
         human_seconds(s.value("uptime_seconds", int64_t{0})) + ", " + json_field(s, "workers") + " workers, " +
         json_field(s, "active_streams") + " streams open, RSS " +
         mebibytes(s.value("resident_memory_bytes", uint64_t{0})) + ", " + json_field(s, "open_fds") + " open files\n";
  if (id.is_object()) {
    out += "spiffe_id  " + json_field(id, "spiffe_id") + "\n";
    out += "node_id    " + json_field(id, "node_id") + "\n";
    out += "expires    " + json_field(id, "not_after") + " (in " +
           human_seconds(id.value("expires_in_seconds", int64_t{0})) + ")\n";
  } else {
    out += "identity   none loaded (no mesh listener, mesh nodes or push mailboxes)\n";
  }

  std::vector<Row> rows;
  for (const json& l : s["listeners"]) {
    std::string errors = errors_text(l.value("errors", json::object()));
    if (l.value("denied", 0) > 0) errors += (errors.empty() ? "" : " ") + std::string("denied=") + json_field(l, "denied");
    rows.push_back({json_field(l, "name"), json_field(l, "protocol"), json_field(l, "address"),
                    json_field(l, "accepted"), json_field(l, "active"), json_field(l, "bytes_up"),
                    json_field(l, "bytes_down"), errors});
  }
  out += "\n";
  table(out, {"LISTENER", "PROTOCOL", "ADDRESS", "ACCEPTED", "ACTIVE", "BYTES UP", "BYTES DOWN", "ERRORS"}, rows);

  if (!s["nodes"].empty()) {
    rows.clear();
    for (const json& n : s["nodes"]) {
      std::string last = n.contains("last") ? json_field(n["last"], "result") + " " + json_field(n["last"], "at") : "";
      rows.push_back({json_field(n, "name"), json_field(n, "path"), json_field(n, "address"), last});
    }
    out += "\n";
    table(out, {"NODE", "PATH", "ADDRESS", "LAST CONNECTION"}, rows);
  }
  if (!s["registered"].empty()) {
    rows.clear();
    for (const json& r : s["registered"])
      rows.push_back({json_field(r, "name"), json_field(r, "spiffe_id"), json_field(r, "peer"), json_field(r, "since")});
    out += "\n";
    table(out, {"REGISTERED", "SPIFFE ID", "FROM", "SINCE"}, rows);
  }
  if (!s["discovered"].empty()) out += "\n" + std::to_string(s["discovered"].size()) + " neighbours discovered\n";
  for (const json& p : s["push"]) {
    out += "\npush " + json_field(p, "listener") + ": " + json_field(p, "subscriptions") + " subscriptions, " +
           json_field(p, "node_mailboxes") + " node mailboxes, " + json_field(p, "messages_stored") +
           " messages stored\n";
  }
  return out;
}

}  // namespace ugate

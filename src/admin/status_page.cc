#include "admin/status_page.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "admin/status_format.h"

namespace ugate {
namespace {

using json = nlohmann::json;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

std::string form_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Builds the HTML, escaping every text that came from outside.
class Html {
 public:
  Html& raw(std::string_view s) { return out_.append(s), *this; }
  Html& text(std::string_view s) { return out_.append(html_escape(s)), *this; }
  Html& cell(std::string_view s, std::string_view cls = {}, std::string_view name = {}) {
    out_ += "<td";
    if (!cls.empty()) raw(" class=\"").raw(cls).raw("\"");
    if (!name.empty()) raw(" data-field=\"").raw(name).raw("\"");
    return raw(">").text(s).raw("</td>");
  }
  Html& number(const json& v, std::string_view name) { return cell(json_text(v), "n", name); }
  // Columns [numeric_from, numeric_to) hold numbers (right-aligned).
  Html& head(std::initializer_list<std::string_view> columns, size_t numeric_from, size_t numeric_to = SIZE_MAX) {
    raw("<div class=\"scroll\"><table><thead><tr>");
    size_t i = 0;
    for (auto c : columns) {
      bool numeric = i >= numeric_from && i < numeric_to;
      raw(numeric ? "<th class=\"n\">" : "<th>").text(c).raw("</th>");
      ++i;
    }
    return raw("</tr></thead><tbody>");
  }
  Html& end_table() { return raw("</tbody></table></div>"); }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void summary(Html& h, const json& s) {
  const json& id = s["identity"];
  std::string name = id.is_object() ? json_field(id, "name") : "";
  if (name.empty()) name = json_field(s, "host");
  const std::string state = json_field(s, "state");
  h.raw("<section id=\"summary\"><h1>").text(name.empty() ? "ugate" : name);
  h.raw(" <span class=\"state ").text(state).raw("\" id=\"state\">").text(state).raw("</span></h1><p class=\"facts\">");
  h.raw("<span>ugate ").text(json_field(s, "version")).raw("</span> ");
  h.raw("<span>up ").text(human_seconds(s.value("uptime_seconds", int64_t{0}))).raw("</span> ");
  h.raw("<span><b id=\"workers\">").text(json_field(s, "workers")).raw("</b> workers</span> ");
  h.raw("<span><b id=\"active-streams\">").text(json_field(s, "active_streams")).raw("</b> streams open</span> ");
  h.raw("<span>RSS ").text(mebibytes(s.value("resident_memory_bytes", uint64_t{0}))).raw("</span> ");
  h.raw("<span><b id=\"open-fds\">").text(json_field(s, "open_fds")).raw("</b> open files</span></p></section>");
}

void identity(Html& h, const json& id) {
  h.raw("<section id=\"identity\"><h2>Identity</h2>");
  if (!id.is_object()) {
    h.raw("<p>No identity loaded: this node has no mesh listener, mesh nodes or push mailboxes.</p></section>");
    return;
  }
  h.raw("<dl>");
  auto row = [&](std::string_view label, const std::string& value, std::string_view key) {
    h.raw("<dt>").text(label).raw("</dt><dd data-field=\"").raw(key).raw("\">").text(value).raw("</dd>");
  };
  row("SPIFFE ID", json_field(id, "spiffe_id"), "spiffe_id");
  row("node ID", json_field(id, "node_id"), "node_id");
  row("VIP6", json_field(id, "vip6"), "vip6");
  row("certificate expires",
      json_field(id, "not_after") + " (in " + human_seconds(id.value("expires_in_seconds", int64_t{0})) + ")", "not_after");
  h.raw("</dl></section>");
}

void listeners(Html& h, const json& all) {
  h.raw("<section id=\"listeners\"><h2>Listeners</h2>");
  h.head({"name", "protocol", "address", "accepted", "active", "bytes up", "bytes down", "errors"}, 3, 7);
  for (const json& l : all) {
    h.raw("<tr data-listener=\"").text(json_field(l, "name")).raw("\">");
    h.cell(json_field(l, "name")).cell(json_field(l, "protocol")).cell(json_field(l, "address"));
    h.number(l.value("accepted", json()), "accepted").number(l.value("active", json()), "active");
    h.number(l.value("bytes_up", json()), "bytes_up").number(l.value("bytes_down", json()), "bytes_down");
    std::string errors = errors_text(l.value("errors", json::object()));
    if (l.value("denied", 0) > 0) errors += (errors.empty() ? "" : " ") + std::string("denied=") + json_field(l, "denied");
    h.cell(errors, "", "errors").raw("</tr>");
  }
  h.end_table().raw("</section>");
}

bool matches(const json& stream, const std::string& needle) {
  if (needle.empty()) return true;
  for (const char* key : {"id", "listener", "protocol", "src", "dst", "orig_dst", "upstream", "peer_spiffe",
                          "peer_node", "user", "sni", "phase", "mode"}) {
    if (lower(json_field(stream, key)).find(needle) != std::string::npos) return true;
  }
  return false;
}

void streams(Html& h, const json& all, const std::string& filter) {
  const std::string needle = lower(filter);
  std::vector<const json*> shown;
  size_t matching = 0;
  for (const json& s : all) {
    if (!matches(s, needle)) continue;
    if (++matching <= kMaxStreamRows) shown.push_back(&s);
  }
  h.raw("<section id=\"streams\"><h2>Streams <small id=\"streams-shown\">");
  std::string note = std::to_string(all.size()) + " open";
  if (!filter.empty()) note += ", " + std::to_string(matching) + " matching \u201c" + filter + "\u201d";
  if (matching > shown.size()) note += ", the first " + std::to_string(shown.size()) + " shown";
  h.text(note).raw("</small></h2>");
  h.head({"id", "listener", "source", "destination", "peer", "phase", "age", "bytes up", "bytes down"}, 6);
  for (const json* s : shown) {
    std::string peer = json_field(*s, "peer_spiffe");
    if (peer.empty()) peer = json_field(*s, "user");
    h.raw("<tr data-stream=\"").text(json_field(*s, "id")).raw("\">");
    h.cell(json_field(*s, "id"), "", "id").cell(json_field(*s, "listener"), "", "listener").cell(json_field(*s, "src"), "", "src");
    h.cell(json_field(*s, "dst"), "", "dst").cell(peer, "", "peer").cell(json_field(*s, "phase"), "", "phase");
    h.cell(human_seconds(s->value("age_ms", int64_t{0}) / 1000), "n", "age");
    h.number(s->value("bytes_up", json()), "bytes_up").number(s->value("bytes_down", json()), "bytes_down");
    h.raw("</tr>");
  }
  h.end_table().raw("</section>");
}

void nodes(Html& h, const json& s) {
  h.raw("<section id=\"nodes\"><h2>Mesh nodes</h2>");
  const json& configured = s["nodes"];
  if (configured.empty()) h.raw("<p>No nodes configured.</p>");
  else h.head({"name", "path", "address", "id", "last connection"}, 5);
  for (const json& n : configured) {
    std::string last;
    if (n.contains("last")) last = json_field(n["last"], "result") + " " + json_field(n["last"], "at");
    h.raw("<tr data-node=\"").text(json_field(n, "name")).raw("\">");
    h.cell(json_field(n, "name")).cell(json_field(n, "path"), "", "path").cell(json_field(n, "address")).cell(json_field(n, "id"));
    h.cell(last, "", "last").raw("</tr>");
  }
  if (!configured.empty()) h.end_table();

  h.raw("<h3>Reverse registrations</h3>");
  if (s["registered"].empty()) h.raw("<p>None: no node holds a reverse connection to this one.</p>");
  else h.head({"name", "SPIFFE ID", "from", "since"}, 4);
  for (const json& r : s["registered"]) {
    h.raw("<tr>").cell(json_field(r, "name")).cell(json_field(r, "spiffe_id")).cell(json_field(r, "peer")).cell(json_field(r, "since"));
    h.raw("</tr>");
  }
  if (!s["registered"].empty()) h.end_table();

  h.raw("<h3>Discovered neighbours</h3>");
  if (s["discovered"].empty()) h.raw("<p>None (discovery off, or nobody announced).</p>");
  else h.head({"node ID", "SPIFFE ID", "mesh address", "last seen"}, 4);
  for (const json& d : s["discovered"]) {
    h.raw("<tr>").cell(json_field(d, "node_id")).cell(json_field(d, "spiffe_id")).cell(json_field(d, "mesh"));
    h.cell(human_seconds(d.value("last_seen_ms", int64_t{0}) / 1000) + " ago").raw("</tr>");
  }
  if (!s["discovered"].empty()) h.end_table();
  h.raw("</section>");
}

void push(Html& h, const json& services) {
  if (services.empty()) return;
  h.raw("<section id=\"push\"><h2>Push service</h2>");
  h.head({"listener", "subscriptions", "node mailboxes", "messages stored", "accepted", "delivered"}, 1);
  for (const json& p : services) {
    h.raw("<tr data-push=\"").text(json_field(p, "listener")).raw("\">").cell(json_field(p, "listener"));
    for (const char* key : {"subscriptions", "node_mailboxes", "messages_stored", "messages_accepted",
                            "messages_delivered"})
      h.number(p.value(key, json()), key);
    h.raw("</tr>");
  }
  h.end_table().raw("</section>");
}

void main_element(Html& h, const json& status, const json& all_streams, const std::string& filter) {
  h.raw("<main id=\"status\">");
  summary(h, status);
  identity(h, status["identity"]);
  listeners(h, status["listeners"]);
  streams(h, all_streams, filter);
  nodes(h, status);
  push(h, status["push"]);
  h.raw("</main>");
}

constexpr std::string_view kLinks =
    "<footer><nav><a href=\"/metrics\">/metrics</a> <a href=\"/debug/status\">/debug/status</a> "
    "<a href=\"/debug/streams\">/debug/streams</a> <a href=\"/debug/nodes\">/debug/nodes</a> "
    "<a href=\"/debug/listeners\">/debug/listeners</a> <a href=\"/debug/config\">/debug/config</a> "
    "<a href=\"/healthz\">/healthz</a> <a href=\"/readyz\">/readyz</a></nav>"
    "<span id=\"live\">Refresh the page to update it (JavaScript is off).</span></footer>";

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

StatusPageQuery parse_status_query(std::string_view query) {
  StatusPageQuery q;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string key = form_decode(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : form_decode(pair.substr(eq + 1));
    if (key == "filter") q.filter = value;
    else if (key == "part") q.main_only = value == "main";
  }
  return q;
}

std::string render_status_page(const json& status, const json& streams, const StatusPageQuery& q) {
  Html h;
  if (q.main_only) {
    main_element(h, status, streams, q.filter);
    return h.take();
  }
  h.raw("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<link rel=\"stylesheet\" href=\"/status.css\"><title>ugate status</title></head><body>");
  h.raw("<form id=\"filter\" method=\"get\" action=\"/\"><input type=\"search\" name=\"filter\" value=\"")
      .text(q.filter)
      .raw("\" placeholder=\"Filter streams: listener, address, peer, SNI\" aria-label=\"Filter streams\">"
           "<button type=\"submit\">Filter</button></form>");
  main_element(h, status, streams, q.filter);
  h.raw(kLinks).raw("<script src=\"/status.js\" defer></script></body></html>\n");
  return h.take();
}

}  // namespace ugate

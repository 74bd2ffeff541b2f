#include "admin/status.h"

#include <unistd.h>

#include <chrono>

#include "admin/admin_view.h"
#include "base/metric_registry.h"
#include "listener/protocol.h"
#include "ugate/version.h"

namespace ugate {
namespace {

using json = nlohmann::json;
using Samples = std::vector<MetricSample>;

// The sum of a listener's samples, of those whose `key` label is `value` if given.
uint64_t total(const Samples& samples, const std::string& listener, std::string_view key = {},
               std::string_view value = {}) {
  uint64_t n = 0;
  for (const auto& s : samples) {
    if (label_value(s.labels, "listener") != listener) continue;
    if (!key.empty() && label_value(s.labels, key) != value) continue;
    n += s.value;
  }
  return n;
}

// A listener's non-zero samples by the value of their `key` label.
json by_label(const Samples& samples, const std::string& listener, std::string_view key) {
  json out = json::object();
  for (const auto& s : samples) {
    if (s.value == 0 || label_value(s.labels, "listener") != listener) continue;
    out[label_value(s.labels, key).value_or("")] = s.value;
  }
  return out;
}

uint64_t value_of(const MetricRegistry& m, std::string_view family) {
  uint64_t n = 0;
  for (const auto& s : m.read(family)) n += s.value;
  return n;
}

json listeners(const AdminView& view) {
  const MetricRegistry& m = view.metrics();
  const Samples accepted = m.read("ugate_listener_accepted_total"), active = m.read("ugate_listener_active_streams"),
                bytes = m.read("ugate_listener_bytes_total"), errors = m.read("ugate_listener_errors_total"),
                authz = m.read("ugate_authz_decisions_total"), push_accepted = m.read("ugate_webpush_connections_total"),
                push_open = m.read("ugate_webpush_open_connections"), push_refused = m.read("ugate_webpush_rejected_total");
  json out = json::array();
  const json described = view.describe_listeners();
  for (json item : described["listeners"]) {
    const std::string name = item["name"];
    if (item["protocol"] == to_string(Protocol::kWebPush)) {  // HTTPS connections, not streams
      item["accepted"] = total(push_accepted, name);
      item["active"] = total(push_open, name);
      item["errors"] = by_label(push_refused, name, "reason");
    } else {
      item["accepted"] = total(accepted, name);
      item["active"] = total(active, name);
      item["bytes_up"] = total(bytes, name, "direction", "up");
      item["bytes_down"] = total(bytes, name, "direction", "down");
      item["errors"] = by_label(errors, name, "reason");
      item["denied"] = total(authz, name, "decision", "deny");
    }
    out.push_back(std::move(item));
  }
  return out;
}

json push_services(const AdminView& view) {
  const MetricRegistry& m = view.metrics();
  struct Field {
    const char* key;
    Samples samples;
  };
  const Field fields[] = {{"subscriptions", m.read("ugate_webpush_subscriptions")},
                          {"node_mailboxes", m.read("ugate_webpush_node_mailboxes")},
                          {"messages_stored", m.read("ugate_webpush_messages_stored")},
                          {"messages_accepted", m.read("ugate_webpush_messages_accepted_total")},
                          {"messages_delivered", m.read("ugate_webpush_messages_delivered_total")}};
  json out = json::array();
  for (const auto& s : fields[0].samples) {
    const std::string listener = label_value(s.labels, "listener").value_or("");
    json item = {{"listener", listener}};
    for (const Field& f : fields) item[f.key] = total(f.samples, listener);
    out.push_back(std::move(item));
  }
  return out;
}

std::string host_name() {
  char name[256] = {};
  return gethostname(name, sizeof name - 1) == 0 ? name : "";
}

}  // namespace

json node_paths(const json& nodes) {
  json out = json::array();
  for (const json& n : nodes.value("configured", json::array())) {
    const std::string name = n.value("name", ""), id = n.value("id", "");
    json item = n;
    bool registered = false;
    for (const json& r : nodes.value("registered", json::array()))
      registered = registered || r.value("name", "") == name || (!id.empty() && r.value("spiffe_id", "") == id) ||
                   (!id.empty() && r.value("node_id", "") == id);
    if (n.contains("via")) item["path"] = "via " + n["via"].get<std::string>();
    else if (registered) item["path"] = "reverse";
    else if (!n.value("address", "").empty()) item["path"] = "direct";
    else item["path"] = "waiting for registration";
    for (const json& c : nodes.value("connections", json::array())) {
      if (c.value("node", "") != name) continue;
      if (!item.contains("last") || c.value("at", "") > item["last"].value("at", ""))
        item["last"] = {{"result", c.value("result", "")}, {"detail", c.value("detail", "")}, {"at", c.value("at", "")}};
    }
    out.push_back(std::move(item));
  }
  return out;
}

boost::asio::awaitable<json> node_status(AdminView& view) {
  const MetricRegistry& m = view.metrics();
  auto up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - view.started());
  json nodes = co_await view.describe_nodes();
  json out = {{"version", kVersion},
              {"host", host_name()},
              {"state", view.draining() ? "draining" : view.ready() ? "ready" : "starting"},
              {"uptime_seconds", up.count()},
              {"workers", view.worker_count()},
              {"active_streams", view.active_streams()},
              {"resident_memory_bytes", value_of(m, "ugate_process_resident_memory_bytes")},
              {"open_fds", value_of(m, "ugate_process_open_fds")},
              {"identity", view.describe_identity()},
              {"listeners", listeners(view)},
              {"nodes", node_paths(nodes)},
              {"registered", nodes["registered"]},
              {"discovered", nodes["discovered"]},
              {"push", push_services(view)}};
  co_return out;
}

}  // namespace ugate

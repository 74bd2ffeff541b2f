#include "admin/metrics.h"

#include <fmt/format.h>

#include <vector>

#include "admin/process_stats.h"
#include "runtime/spawn.h"
#include "identity/ca_service.h"
#include "policy/listener_auth.h"
#include "identity/mesh_identity.h"
#include "identity/renewer.h"
#include "admin/admin_view.h"
#include "config/config.h"
#include "listener/listener_slot.h"
#include "runtime/worker.h"
#include "discovery/discovery.h"
#include "webpush/push_server.h"
#include "mesh/mesh.h"
#include "ugate/version.h"

namespace ugate {
namespace {

std::string label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, std::string_view labels, uint64_t value) {
    fmt::format_to(std::back_inserter(out_), "{}{}{}{} {}\n", name, labels.empty() ? "" : "{", labels,
                   labels.empty() ? "" : "}", value);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void render_push_metrics(Writer& w, const AdminView& gate) {
  const auto& servers = gate.push_servers();
  if (servers.empty()) return;
  using webpush::PushCounters;
  struct Field {
    const char* name;
    const char* type;
    const char* help;
    uint64_t (*get)(const webpush::PushServer&);
  };
  static const Field fields[] = {
      {"ugate_webpush_subscriptions_created_total", "counter", "Push subscriptions created.",
       [](const webpush::PushServer& s) { return s.counters().subscriptions_created; }},
      {"ugate_webpush_messages_accepted_total", "counter", "Push messages accepted (201).",
       [](const webpush::PushServer& s) { return s.counters().accepted; }},
      {"ugate_webpush_messages_delivered_total", "counter", "Messages handed to subscribers (before their ack).",
       [](const webpush::PushServer& s) { return s.counters().delivered; }},
      {"ugate_webpush_messages_acked_total", "counter", "Messages acknowledged by subscribers.",
       [](const webpush::PushServer& s) { return s.counters().acked; }},
      {"ugate_webpush_messages_expired_total", "counter", "Messages whose TTL ran out before an ack.",
       [](const webpush::PushServer& s) { return s.counters().expired; }},
      {"ugate_webpush_messages_replaced_total", "counter", "Pending messages replaced by a newer one of the same Topic.",
       [](const webpush::PushServer& s) { return s.counters().replaced; }},
      {"ugate_webpush_node_keys_registered_total", "counter", "Key registrations of node mailboxes (PUT /node/keys).",
       [](const webpush::PushServer& s) { return s.counters().node_keys; }},
      {"ugate_webpush_node_messages_total", "counter", "Messages from one node to another accepted.",
       [](const webpush::PushServer& s) { return s.counters().node_messages; }},
      {"ugate_webpush_receipts_total", "counter", "Delivery receipts put into senders' mailboxes.",
       [](const webpush::PushServer& s) { return s.counters().receipts; }},
      {"ugate_webpush_receipts_dropped_total", "counter", "Delivery receipts not sent: the sender's mailbox was full.",
       [](const webpush::PushServer& s) { return s.counters().receipts_dropped; }},
      {"ugate_webpush_connections_total", "counter", "HTTPS connections accepted.",
       [](const webpush::PushServer& s) { return s.counters().connections; }},
      {"ugate_webpush_tls_failures_total", "counter", "TLS handshakes that failed.",
       [](const webpush::PushServer& s) { return s.counters().tls_failed; }},
      {"ugate_webpush_open_connections", "gauge", "HTTPS connections open now.",
       [](const webpush::PushServer& s) { return static_cast<uint64_t>(s.open_connections()); }},
  };
  for (const auto& f : fields) {
    w.family(f.name, f.type, f.help);
    for (const auto& s : servers)
      w.sample(f.name, fmt::format("listener=\"{}\"", label_value(s->config().name)), f.get(*s));
  }
  w.family("ugate_webpush_rejected_total", "counter", "Requests refused, by reason (the HTTP status says which).");
  for (const auto& s : servers)
    for (size_t r = 0; r < static_cast<size_t>(webpush::PushReject::kCount); ++r)
      w.sample("ugate_webpush_rejected_total",
               fmt::format("listener=\"{}\",reason=\"{}\"", label_value(s->config().name),
                           webpush::reject_name(static_cast<webpush::PushReject>(r))),
               s->counters().rejected[r]);
}

// The mesh's HTTP/2 connections, summed over workers.
void render_mesh(Writer& w, const std::vector<std::unique_ptr<Worker>>& workers) {
  auto sum = [&](auto field) {
    uint64_t total = 0;
    for (const auto& wk : workers)
      if (const Mesh* m = wk->mesh()) total += field(m->stats()).get();
    return total;
  };
  w.family("ugate_mesh_connections_total", "counter", "Mesh (HTTP/2) connections: served = accepted, pool = dialled.");
  w.sample("ugate_mesh_connections_total", "role=\"served\"", sum([](const MeshStats& s) -> const Counter& { return s.accepted; }));
  w.sample("ugate_mesh_connections_total", "role=\"pool\"", sum([](const MeshStats& s) -> const Counter& { return s.opened; }));
  w.family("ugate_mesh_connections_active", "gauge", "Mesh connections open now.");
  w.sample("ugate_mesh_connections_active", "", sum([](const MeshStats& s) -> const Counter& { return s.active; }));
  w.family("ugate_mesh_connections_closed_total", "counter", "Mesh connections ended, by reason.");
  for (size_t r = 1; r < MeshStats::kEndReasons; ++r) {
    w.sample("ugate_mesh_connections_closed_total",
             fmt::format("reason=\"{}\"", h2::to_string(static_cast<h2::EndReason>(r))),
             sum([r](const MeshStats& s) -> const Counter& { return s.closed_by_reason[r]; }));
  }
  w.family("ugate_mesh_streams_reset_early_total", "counter",
           "Streams a peer reset before they were answered (a rapid-reset flood closes its connection).");
  w.sample("ugate_mesh_streams_reset_early_total", "",
           sum([](const MeshStats& s) -> const Counter& { return s.premature_resets; }));
  w.family("ugate_mesh_send_queued_bytes", "gauge",
           "Bytes queued for sending on the mesh's HTTP/2 streams (bounded per stream, connection and worker).");
  w.sample("ugate_mesh_send_queued_bytes", "", [&workers] {
    uint64_t total = 0;
    for (const auto& wk : workers)
      if (Mesh* m = wk->mesh()) total += m->send_budget().used();
    return total;
  }());
  w.family("ugate_mesh_pool_streams_total", "counter", "CONNECT streams the pool opened on its connections to mesh nodes.");
  w.sample("ugate_mesh_pool_streams_total", "", sum([](const MeshStats& s) -> const Counter& { return s.streams_opened; }));
  w.family("ugate_mesh_bridged_streams_total", "counter",
           "Streams that began on another worker and were carried to a reverse connection held by this one.");
  w.sample("ugate_mesh_bridged_streams_total", "", sum([](const MeshStats& s) -> const Counter& { return s.bridged; }));
  w.family("ugate_mesh_pool_dial_failures_total", "counter",
           "Connections to mesh nodes the pool could not make (each failed the streams waiting for it), by reason.");
  for (size_t r = 1; r < static_cast<size_t>(CloseReason::kCount); ++r) {
    uint64_t n = sum([r](const MeshStats& s) -> const Counter& { return s.dial_failed[r]; });
    if (n > 0)  // a dial fails for a handful of reasons: the others stay out of the output
      w.sample("ugate_mesh_pool_dial_failures_total",
               fmt::format("reason=\"{}\"", to_string(static_cast<CloseReason>(r))), n);
  }
}

// The node's certificate, its renewals, and the CA's requests.
void render_identity_metrics(Writer& w, const AdminView& gate) {
  const MeshIdentity* identity = gate.identity();
  if (!identity) return;
  auto state = identity->state();
  w.family("ugate_identity_cert_expiry_timestamp_seconds", "gauge", "When the node's certificate expires (Unix time).");
  w.sample("ugate_identity_cert_expiry_timestamp_seconds", "",
           static_cast<uint64_t>(std::chrono::system_clock::to_time_t(state->id->not_after)));
  if (const IdentityRenewer* r = gate.renewer()) {
    w.family("ugate_identity_renewals_total", "counter", "Certificate renewals (or reloads of files managed outside), by result.");
    w.sample("ugate_identity_renewals_total", "result=\"ok\"", r->renewed());
    w.sample("ugate_identity_renewals_total", "result=\"error\"", r->failed());
  }
  if (const CaService* ca = gate.ca()) {
    w.family("ugate_ca_requests_total", "counter", "CSRs to this node's CA on the mesh port, by result.");
    w.sample("ugate_ca_requests_total", "result=\"issued\"", ca->issued());
    w.sample("ugate_ca_requests_total", "result=\"refused\"", ca->refused());
  }
}

// Local discovery's announces, sent and received by what became of them.
void render_discovery(Writer& w, const AdminView& gate) {
  const discovery::Discovery* d = gate.discovery();
  if (!d) return;
  const discovery::DiscoveryStats& s = d->stats();
  w.family("ugate_discovery_announces_sent_total", "counter", "Discovery announces multicast (one per interface and family).");
  w.sample("ugate_discovery_announces_sent_total", "result=\"ok\"", s.sent.get());
  w.sample("ugate_discovery_announces_sent_total", "result=\"error\"", s.send_errors.get());
  w.family("ugate_discovery_announces_received_total", "counter",
           "Announces received, by what became of them (only accepted ones count; the rest are ignored).");
  for (size_t h = 0; h < s.received.size(); ++h)
    w.sample("ugate_discovery_announces_received_total",
             fmt::format("result=\"{}\"", to_string(static_cast<discovery::Heard>(h))), s.received[h].get());
  w.family("ugate_discovery_nodes", "gauge", "Nodes heard from on the local links within the TTL.");
  w.sample("ugate_discovery_nodes", "", d->size());
}

}  // namespace

std::string render_metrics(const AdminView& gate) {
  Writer w;
  const auto& workers = gate.workers();
  // The listeners the workers serve; webpush listeners run on the control thread (below).
  const auto& groups = gate.listener_groups();

  w.family("ugate_build_info", "gauge", "Build information.");
  w.sample("ugate_build_info", fmt::format("version=\"{}\"", kVersion), 1);
  w.family("ugate_uptime_seconds", "gauge", "Seconds since the gate started.");
  w.sample("ugate_uptime_seconds", "",
           static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::steady_clock::now() - gate.started())
                                     .count()));
  w.family("ugate_workers", "gauge", "Worker threads.");
  w.sample("ugate_workers", "", workers.size());
  w.family("ugate_draining", "gauge", "1 while the gate drains before exiting.");
  w.sample("ugate_draining", "", gate.draining() ? 1 : 0);
  w.family("ugate_escaped_exceptions_total", "counter",
           "Exceptions that escaped a spawned task (a stream, an accept loop...): logged, never fatal.");
  w.sample("ugate_escaped_exceptions_total", "", escaped_exceptions());
  // Left out, not 0, when /proc cannot be read.
  w.family("ugate_process_resident_memory_bytes", "gauge", "Resident memory.");
  if (auto rss = resident_bytes()) w.sample("ugate_process_resident_memory_bytes", "", *rss);
  w.family("ugate_process_open_fds", "gauge", "Open file descriptors.");
  if (auto fds = open_fds()) w.sample("ugate_process_open_fds", "", *fds);

  // Sum one listener's counter over all workers.
  auto sum = [&](size_t li, auto field) {
    uint64_t total = 0;
    for (const ListenerSlot* slot : groups[li].slots) total += field(slot->stats).get();
    return total;
  };
  struct Simple {
    const char* name;
    const char* type;
    const char* help;
    const Counter& (*field)(const ListenerStats&);
  };
  static const Simple simple[] = {
      {"ugate_listener_accepted_total", "counter", "Connections accepted.",
       [](const ListenerStats& s) -> const Counter& { return s.accepted; }},
      {"ugate_listener_active_streams", "gauge", "Streams open now.",
       [](const ListenerStats& s) -> const Counter& { return s.active; }},
      {"ugate_listener_closed_total", "counter", "Streams closed, for any reason.",
       [](const ListenerStats& s) -> const Counter& { return s.closed; }},
      {"ugate_listener_accept_errors_total", "counter", "accept(2) failures (out of descriptors, ...).",
       [](const ListenerStats& s) -> const Counter& { return s.accept_errors; }},
      {"ugate_listener_spliced_bytes_total", "counter",
       "Bytes moved by splice(2), both directions; the rest of the splice path's bytes were copied.",
       [](const ListenerStats& s) -> const Counter& { return s.bytes_spliced; }},
      {"ugate_listener_datagrams_dropped_total", "counter",
       "Datagrams a UDP relay dropped (malformed, not allowed, unknown sender, send failed).",
       [](const ListenerStats& s) -> const Counter& { return s.datagrams_dropped; }},
  };
  for (const auto& m : simple) {
    w.family(m.name, m.type, m.help);
    for (size_t li = 0; li < groups.size(); ++li)
      w.sample(m.name, fmt::format("listener=\"{}\"", label_value(groups[li].config->name)), sum(li, m.field));
  }

  using Field = const Counter& (*)(const ListenerStats&);
  // One family with two samples per listener, told apart by one label.
  auto pair = [&](std::string_view name, std::string_view help, const std::vector<size_t>& which,
                  std::string_view label, std::string_view a, Field fa, std::string_view b, Field fb) {
    w.family(name, "counter", help);
    for (size_t li : which) {
      auto listener = label_value(groups[li].config->name);
      w.sample(name, fmt::format("listener=\"{}\",{}=\"{}\"", listener, label, a), sum(li, fa));
      w.sample(name, fmt::format("listener=\"{}\",{}=\"{}\"", listener, label, b), sum(li, fb));
    }
  };
  // One family with a sample per listener and reason.
  auto by_reason = [&](std::string_view name, std::string_view help, const std::vector<size_t>& which, size_t first,
                       size_t count, auto counters, auto reason_name) {
    w.family(name, "counter", help);
    for (size_t li : which) {
      auto listener = label_value(groups[li].config->name);
      for (size_t r = first; r < count; ++r) {
        uint64_t total = 0;
        for (const ListenerSlot* slot : groups[li].slots) total += counters(slot->stats)[r].get();
        w.sample(name, fmt::format("listener=\"{}\",reason=\"{}\"", listener, reason_name(r)), total);
      }
    }
  };
  std::vector<size_t> all, udp;
  for (size_t li = 0; li < groups.size(); ++li) {
    all.push_back(li);
    if (groups[li].config->is(kDatagram)) udp.push_back(li);
  }

  pair("ugate_listener_bytes_total", "Bytes proxied: up = client to upstream, down = back.", all, "direction", "up",
       [](const ListenerStats& s) -> const Counter& { return s.bytes_up; }, "down",
       [](const ListenerStats& s) -> const Counter& { return s.bytes_down; });
  pair("ugate_listener_streams_total", "Streams that reached the proxy, by how bytes moved.", all, "mode", "splice",
       [](const ListenerStats& s) -> const Counter& { return s.spliced; }, "copy",
       [](const ListenerStats& s) -> const Counter& { return s.copied; });
  by_reason("ugate_listener_errors_total", "Streams that ended in an error, by reason.", all, 1,
            static_cast<size_t>(CloseReason::kCount),
            [](const ListenerStats& s) -> const auto& { return s.closed_by_reason; },
            [](size_t r) { return to_string(static_cast<CloseReason>(r)); });

  // UDP listeners: a flow is a NAT entry (accepted, active and closed above count them).
  if (!udp.empty()) {
    pair("ugate_udp_packets_total", "Datagrams forwarded: up = client to upstream, down = back.", udp, "direction",
         "up", [](const ListenerStats& s) -> const Counter& { return s.packets_up; }, "down",
         [](const ListenerStats& s) -> const Counter& { return s.packets_down; });
    by_reason("ugate_udp_drops_total", "Datagrams a udp listener dropped, by reason.", udp, 0,
              static_cast<size_t>(UdpDrop::kCount),
              [](const ListenerStats& s) -> const auto& { return s.udp_drops; },
              [](size_t r) { return to_string(static_cast<UdpDrop>(r)); });
  }
  render_push_metrics(w, gate);
  render_mesh(w, workers);
  render_identity_metrics(w, gate);
  const auto& policy = gate.config().authorization;
  w.family("ugate_authz_decisions_total", "counter", "Authorization decisions, by listener, rule and outcome.");
  const auto& configured = gate.config().listeners;
  for (size_t li = 0; li < configured.size() && li < gate.listener_auth().size(); ++li) {
    const ListenerAuth& auth = gate.listener_auth()[li];
    for (int rule = -1; rule < static_cast<int>(policy.rules().size()); ++rule) {
      for (bool allow : {true, false}) {
        AuthzDecision d{allow, rule};
        w.sample("ugate_authz_decisions_total",
                 fmt::format("listener=\"{}\",rule=\"{}\",decision=\"{}\"", label_value(configured[li].name),
                             label_value(policy.rule_name(d)), allow ? "allow" : "deny"),
                 auth.decided(rule, allow));
      }
    }
  }
  render_discovery(w, gate);
  return w.take();
}

}  // namespace ugate

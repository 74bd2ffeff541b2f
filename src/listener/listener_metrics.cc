#include "listener/listener_metrics.h"

#include "policy/authz.h"

namespace ugate {
namespace {

using Field = const Counter& (*)(const ListenerStats&);

uint64_t sum(const ListenerGroup& g, Field field) {
  uint64_t total = 0;
  for (const ListenerSlot* slot : g.slots) total += field(slot->stats).get();
  return total;
}

// One sample per listener.
MetricRegistry::Reader per_listener(const std::deque<ListenerGroup>& groups, Field field) {
  return [&groups, field](MetricSamples& s) {
    for (const auto& g : groups) s.add(label("listener", g.config->name), sum(g, field));
  };
}

// Two samples per listener (of `which`), told apart by one label.
MetricRegistry::Reader pair(const std::deque<ListenerGroup>& groups, bool udp_only, std::string_view key,
                            std::string_view a, Field fa, std::string_view b, Field fb) {
  return [&groups, udp_only, key, a, fa, b, fb](MetricSamples& s) {
    for (const auto& g : groups) {
      if (udp_only && !g.config->is(kDatagram)) continue;
      std::string listener = label("listener", g.config->name);
      s.add(listener + "," + label(key, a), sum(g, fa));
      s.add(listener + "," + label(key, b), sum(g, fb));
    }
  };
}

// A sample per listener (of `which`) and reason, reasons [first, count).
template <class Counters, class Name>
MetricRegistry::Reader by_reason(const std::deque<ListenerGroup>& groups, bool udp_only, size_t first, size_t count,
                                 Counters counters, Name name) {
  return [&groups, udp_only, first, count, counters, name](MetricSamples& s) {
    for (const auto& g : groups) {
      if (udp_only && !g.config->is(kDatagram)) continue;
      std::string listener = label("listener", g.config->name);
      for (size_t r = first; r < count; ++r) {
        uint64_t total = 0;
        for (const ListenerSlot* slot : g.slots) total += counters(slot->stats)[r].get();
        s.add(listener + "," + label("reason", name(r)), total);
      }
    }
  };
}

}  // namespace

void register_listener_metrics(MetricRegistry& r, const std::deque<ListenerGroup>& groups) {
  constexpr auto counter = MetricType::kCounter;
  r.add("ugate_listener_accepted_total", counter, "Connections accepted.",
        per_listener(groups, [](const ListenerStats& s) -> const Counter& { return s.accepted; }));
  r.add("ugate_listener_active_streams", MetricType::kGauge, "Streams open now.",
        per_listener(groups, [](const ListenerStats& s) -> const Counter& { return s.active; }));
  r.add("ugate_listener_closed_total", counter, "Streams closed, for any reason.",
        per_listener(groups, [](const ListenerStats& s) -> const Counter& { return s.closed; }));
  r.add("ugate_listener_accept_errors_total", counter, "accept(2) failures (out of descriptors, ...).",
        per_listener(groups, [](const ListenerStats& s) -> const Counter& { return s.accept_errors; }));
  r.add("ugate_listener_spliced_bytes_total", counter,
        "Bytes moved by splice(2), both directions; the rest of the splice path's bytes were copied.",
        per_listener(groups, [](const ListenerStats& s) -> const Counter& { return s.bytes_spliced; }));
  r.add("ugate_listener_datagrams_dropped_total", counter,
        "Datagrams a UDP relay dropped (malformed, not allowed, unknown sender, send failed).",
        per_listener(groups, [](const ListenerStats& s) -> const Counter& { return s.datagrams_dropped; }));
  r.add("ugate_listener_bytes_total", counter, "Bytes proxied: up = client to upstream, down = back.",
        pair(groups, false, "direction", "up", [](const ListenerStats& s) -> const Counter& { return s.bytes_up; },
             "down", [](const ListenerStats& s) -> const Counter& { return s.bytes_down; }));
  r.add("ugate_listener_streams_total", counter, "Streams that reached the proxy, by how bytes moved.",
        pair(groups, false, "mode", "splice", [](const ListenerStats& s) -> const Counter& { return s.spliced; },
             "copy", [](const ListenerStats& s) -> const Counter& { return s.copied; }));
  r.add("ugate_listener_errors_total", counter, "Streams that ended in an error, by reason.",
        by_reason(
            groups, false, 1, static_cast<size_t>(CloseReason::kCount),
            [](const ListenerStats& s) -> const auto& { return s.closed_by_reason; },
            [](size_t i) { return to_string(static_cast<CloseReason>(i)); }));

  // UDP listeners: a flow is a NAT entry (accepted, active and closed above count them).
  bool udp = false;
  for (const auto& g : groups) udp = udp || g.config->is(kDatagram);
  if (!udp) return;
  r.add("ugate_udp_packets_total", counter, "Datagrams forwarded: up = client to upstream, down = back.",
        pair(groups, true, "direction", "up", [](const ListenerStats& s) -> const Counter& { return s.packets_up; },
             "down", [](const ListenerStats& s) -> const Counter& { return s.packets_down; }));
  r.add("ugate_udp_drops_total", counter, "Datagrams a udp listener dropped, by reason.",
        by_reason(
            groups, true, 0, static_cast<size_t>(UdpDrop::kCount),
            [](const ListenerStats& s) -> const auto& { return s.udp_drops; },
            [](size_t i) { return to_string(static_cast<UdpDrop>(i)); }));
}

void register_authz_metrics(MetricRegistry& r, const std::deque<ListenerGroup>& groups, const AuthzPolicy& policy) {
  r.add("ugate_authz_decisions_total", MetricType::kCounter, "Authorization decisions, by listener, rule and outcome.",
        [&groups, &policy](MetricSamples& s) {
          for (const auto& g : groups) {
            if (!g.auth || !g.auth->authz) continue;
            for (int rule = -1; rule < static_cast<int>(policy.rules().size()); ++rule) {
              for (bool allow : {true, false}) {
                s.add(label("listener", g.config->name) + "," + label("rule", policy.rule_name({allow, rule})) + "," +
                          label("decision", allow ? "allow" : "deny"),
                      g.decided(rule, allow));
              }
            }
          }
        });
}

}  // namespace ugate

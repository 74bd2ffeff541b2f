// The TURN server's metric families: ugate_turn_*, summed over the workers.
#include "stun/server.h"

#include <algorithm>
#include <functional>

namespace ugate::stun {
namespace {

using Field = const Counter TurnCounters::*;

// Each listener with TURN, and its listener label.
void each_turn(const std::deque<StunListener>& listeners,
               const std::function<void(const StunListener&, const std::string&)>& f) {
  for (const auto& l : listeners)
    if (l.turn) f(l, label("listener", l.config->name));
}

uint64_t sum(const StunListener& l, const std::function<uint64_t(const TurnCounters&)>& read) {
  uint64_t total = 0;
  for (const auto& c : l.turn_by_worker) total += read(*c);
  return total;
}

void gauge(MetricRegistry& r, const std::deque<StunListener>& listeners, const char* name, const char* help, Field field) {
  r.add(name, MetricType::kGauge, help, [&listeners, field](MetricSamples& s) {
    each_turn(listeners, [&](const StunListener& l, const std::string& labels) {
      s.add(labels, sum(l, [field](const TurnCounters& c) { return (c.*field).get(); }));
    });
  });
}

constexpr std::string_view kDirections[] = {"to_peer", "to_client"};

}  // namespace

void register_turn_metrics(MetricRegistry& r, const std::deque<StunListener>& listeners) {
  if (std::none_of(listeners.begin(), listeners.end(), [](const StunListener& l) { return l.turn != nullptr; })) return;
  gauge(r, listeners, "ugate_turn_allocations", "TURN allocations now.", &TurnCounters::allocations);
  gauge(r, listeners, "ugate_turn_permissions", "TURN permissions now, over all allocations.", &TurnCounters::permissions);
  gauge(r, listeners, "ugate_turn_channels", "TURN channels bound now, over all allocations.", &TurnCounters::channels);
  r.add("ugate_turn_relayed_bytes_total", MetricType::kCounter,
        "Payload bytes relayed by TURN allocations, by direction (to_peer: from clients to peers).",
        [&listeners](MetricSamples& s) {
          each_turn(listeners, [&](const StunListener& l, const std::string& labels) {
            for (size_t d = 0; d < 2; ++d)
              s.add(labels + "," + label("direction", kDirections[d]), sum(l, [d](const TurnCounters& c) { return c.bytes[d].get(); }));
          });
        });
  r.add("ugate_turn_relayed_packets_total", MetricType::kCounter, "Datagrams relayed by TURN allocations, by direction.",
        [&listeners](MetricSamples& s) {
          each_turn(listeners, [&](const StunListener& l, const std::string& labels) {
            for (size_t d = 0; d < 2; ++d)
              s.add(labels + "," + label("direction", kDirections[d]),
                    sum(l, [d](const TurnCounters& c) { return c.packets[d].get(); }));
          });
        });
  r.add("ugate_turn_refusals_total", MetricType::kCounter, "TURN requests refused, by the error code answered.",
        [&listeners](MetricSamples& s) {
          each_turn(listeners, [&](const StunListener& l, const std::string& labels) {
            for (size_t i = 0; i < static_cast<size_t>(Refusal::kCount); ++i)
              s.add(labels + "," + label("code", std::to_string(code_of(static_cast<Refusal>(i)))),
                    sum(l, [i](const TurnCounters& c) { return c.refusals[i].get(); }));
          });
        });
  r.add("ugate_turn_dropped_total", MetricType::kCounter,
        "TURN datagrams and messages dropped unanswered, by reason (no permission, over bandwidth, ...).",
        [&listeners](MetricSamples& s) {
          each_turn(listeners, [&](const StunListener& l, const std::string& labels) {
            for (size_t i = 0; i < static_cast<size_t>(TurnDrop::kCount); ++i)
              s.add(labels + "," + label("reason", to_string(static_cast<TurnDrop>(i))),
                    sum(l, [i](const TurnCounters& c) { return c.drops[i].get(); }));
          });
        });
}

}  // namespace ugate::stun

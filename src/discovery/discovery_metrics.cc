#include "discovery/discovery_metrics.h"

#include "discovery/discovery.h"

namespace ugate::discovery {

void register_discovery_metrics(MetricRegistry& r, const Discovery* d) {
  if (!d) return;
  r.add("ugate_discovery_announces_sent_total", MetricType::kCounter,
        "Discovery announces multicast (one per interface and family).", [d](MetricSamples& s) {
          s.add(label("result", "ok"), d->stats().sent.get());
          s.add(label("result", "error"), d->stats().send_errors.get());
        });
  r.add("ugate_discovery_announces_received_total", MetricType::kCounter,
        "Announces received, by what became of them (only accepted ones count; the rest are ignored).",
        [d](MetricSamples& s) {
          const auto& received = d->stats().received;
          for (size_t h = 0; h < received.size(); ++h)
            s.add(label("result", to_string(static_cast<Heard>(h))), received[h].get());
        });
  r.add_value("ugate_discovery_nodes", MetricType::kGauge, "Nodes heard from on the local links within the TTL.",
              [d] { return static_cast<uint64_t>(d->size()); });
}

}  // namespace ugate::discovery

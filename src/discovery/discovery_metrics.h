#pragma once
// Local discovery's announces, sent and received by what became of them.
#include "base/metric_registry.h"

namespace ugate::discovery {

class Discovery;

// Nothing when discovery is off (null). `d` must outlive the readers.
void register_discovery_metrics(MetricRegistry& registry, const Discovery* d);

}  // namespace ugate::discovery

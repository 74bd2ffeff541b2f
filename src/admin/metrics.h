#pragma once
// The node's own metric families (build, uptime, workers, drain, escaped
// exceptions, process memory and descriptors); the modules register theirs.
#include "base/metric_registry.h"

namespace ugate {

class AdminView;

// `node` must outlive the registry's readers.
void register_node_metrics(MetricRegistry& registry, const AdminView& node);

}  // namespace ugate

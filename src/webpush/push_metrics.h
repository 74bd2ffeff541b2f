#pragma once
// The push services' metric families, per webpush listener.
#include <memory>
#include <vector>

#include "base/metric_registry.h"

namespace ugate::webpush {

class PushServer;

// Nothing when there is no push service. `servers` must outlive the readers.
void register_push_metrics(MetricRegistry& registry, const std::vector<std::unique_ptr<PushServer>>& servers);

}  // namespace ugate::webpush

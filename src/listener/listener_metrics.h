#pragma once
// The listeners' metric families: per listener, each counter summed over the
// workers' slots when read.
#include <deque>

#include "base/metric_registry.h"
#include "listener/listener_slot.h"

namespace ugate {

class AuthzPolicy;

// `groups` must outlive the registry's readers (the gate owns both).
void register_listener_metrics(MetricRegistry& registry, const std::deque<ListenerGroup>& groups);
// ugate_authz_decisions_total: by listener, rule of `policy`, and outcome.
void register_authz_metrics(MetricRegistry& registry, const std::deque<ListenerGroup>& groups,
                            const AuthzPolicy& policy);

}  // namespace ugate

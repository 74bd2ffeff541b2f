#pragma once
// Prometheus text exposition of the gate's counters.
#include <string>

namespace ugate {

class Gate;

std::string render_metrics(const Gate& gate);

}  // namespace ugate

#pragma once
// Prometheus text exposition of the gate's counters.
#include <string>

namespace ugate {

class AdminView;

std::string render_metrics(const AdminView& gate);

}  // namespace ugate

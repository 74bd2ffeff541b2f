#pragma once
// The node at a glance, as GET /debug/status serves it and the status page
// and `ugate status` show it: state, identity, each listener with its
// counters, mesh nodes and the path a stream to each takes, the push
// service's counts. Counters are read from the metric registry by the
// readers /metrics renders, so all three agree with /metrics.
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

namespace ugate {

class AdminView;

boost::asio::awaitable<nlohmann::json> node_status(AdminView& view);

// How a stream to each configured node goes now ("direct", "via NAME",
// "reverse", "waiting for registration"), with the last outcome of a
// connection to it; `nodes` is what AdminView::describe_nodes() returned.
nlohmann::json node_paths(const nlohmann::json& nodes);

}  // namespace ugate

#include "listener/listener_slot.h"

#include <random>
#include <spdlog/spdlog.h>

namespace ugate {

ListenerGroup::ListenerGroup(const ListenerConfig& c, const ListenerAuth* a) : config(&c), auth(a) {
  if (c.source_rate_limit.per_second) {
    std::random_device seed;
    source_rate = std::make_unique<SourceRateLimiter>(c.source_rate_limit.per_second, c.source_rate_limit.burst,
                                                      uint64_t{seed()} << 32 | seed());
  }
}

ListenerSlot::ListenerSlot(ListenerGroup& g, Door d) : config(g.config), auth(g.auth), door(d), group(&g) {
  if (auth && auth->authz) decisions = std::make_unique<Counter[]>(2 * (auth->authz->rules().size() + 1));
}

bool ListenerSlot::source_rate_allows(const asio::ip::address& source) {
  if (!group->source_rate || group->source_rate->take(source, monotonic_us())) return true;
  if (!group->said_rate_limited.exchange(true, std::memory_order_relaxed))
    spdlog::warn("listener {}: refused a connection from {}: over source_rate_limit ({}/s, burst {}); further "
                 "refusals are counted in ugate_listener_errors_total{{reason=\"rate_limited\"}}",
                 config->name, source.to_string(), config->source_rate_limit.per_second, config->source_rate_limit.burst);
  return false;
}

uint64_t ListenerGroup::decided(int rule, bool allow) const {
  uint64_t n = 0;
  for (const ListenerSlot* slot : slots)
    if (slot && slot->decisions) n += slot->decisions[ListenerSlot::decision_index(rule, allow)].get();
  return n;
}

}  // namespace ugate

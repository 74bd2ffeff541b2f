#include "listener/listener_slot.h"

namespace ugate {

ListenerSlot::ListenerSlot(ListenerGroup& g, Door d) : config(g.config), auth(g.auth), door(d), group(&g) {
  if (auth && auth->authz) decisions = std::make_unique<Counter[]>(2 * (auth->authz->rules().size() + 1));
}

uint64_t ListenerGroup::decided(int rule, bool allow) const {
  uint64_t n = 0;
  for (const ListenerSlot* slot : slots)
    if (slot && slot->decisions) n += slot->decisions[ListenerSlot::decision_index(rule, allow)].get();
  return n;
}

}  // namespace ugate

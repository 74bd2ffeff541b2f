#include "dns/mesh_answer.h"

#include <algorithm>

namespace ugate::dns {

MeshZone::MeshZone(const VirtualAddresses& addresses, std::string_view trust_domain, std::string_view zone,
                   uint32_t ttl)
    : addresses_(addresses), ttl_(ttl) {
  for (std::string_view d : {trust_domain, zone}) {
    auto name = name_from_text(d);
    if (d.empty() || !name || name->size == 0) continue;
    if (std::any_of(domains_.begin(), domains_.end(), [&](const Domain& x) { return x.name.bytes() == name->bytes(); }))
      continue;
    domains_.push_back({*name, std::string(d)});
  }
}

bool MeshZone::answer(std::span<const uint8_t> query_msg, const Query& q, std::vector<uint8_t>& out) const {
  std::string_view name = q.name.bytes();
  for (const Domain& d : domains_) {
    std::string_view domain = d.name.bytes();
    if (!name.ends_with(domain)) continue;
    // Where the domain starts must be a label's start: walk the labels.
    size_t at = 0;
    size_t labels = 0;
    while (at < name.size() - domain.size()) {
      at += 1 + static_cast<uint8_t>(name[at]);
      ++labels;
    }
    if (at != name.size() - domain.size()) continue;
    const VirtualNode* node = nullptr;
    if (labels == 1) node = addresses_.find(name.substr(1, static_cast<uint8_t>(name[0])));
    const bool apex = labels == 0;
    Rcode rcode = node || apex ? kNoError : kNxDomain;
    if (q.klass != kClassIn && q.klass != kAny) rcode = kRefused;
    start_answer(out, query_msg, q, rcode, rcode != kRefused);
    size_t answers = 0;
    if (node && rcode == kNoError) {
      if ((q.type == kA || q.type == kAny) && node->v4) {
        auto b = node->v4->to_bytes();
        add_answer(out, kA, ttl_, b);
        ++answers;
      }
      if ((q.type == kAaaa || q.type == kAny) && node->v6) {
        auto b = node->v6->to_bytes();
        add_answer(out, kAaaa, ttl_, b);
        ++answers;
      }
    }
    if (answers == 0 && rcode != kRefused) add_soa(out, d.text, ttl_, ttl_);  // negative caching, RFC 2308
    if (q.edns) add_opt(out, kOurUdpSize);
    return true;
  }
  return false;
}

}  // namespace ugate::dns

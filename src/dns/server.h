#pragma once
// `protocol: dns`: the resolver the node's apps ask, on UDP and TCP of one
// port. Mesh names are answered at once (mesh_answer.h); the rest goes to the
// upstreams (the `dns:` section, else /etc/resolv.conf) and their answers are
// cached for all the workers (cache.h). Each worker binds its own SO_REUSEPORT UDP
// socket beside its TCP acceptor, as `protocol: stun` does.
#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/udp.hpp>
#include <deque>
#include <memory>
#include <string_view>
#include <vector>

#include "base/metric_registry.h"
#include "base/stats.h"
#include "dns/cache.h"
#include "dns/dns_config.h"
#include "dns/mesh_answer.h"
#include "listener/listener_slot.h"
#include "runtime/worker.h"

namespace ugate::dns {

enum class QueryKind : uint8_t { kMesh, kCached, kForwarded, kMalformed, kCount };
enum class UpstreamError : uint8_t { kTimeout, kNetwork, kBadAnswer, kTcpRetry, kCount };
std::string_view to_string(QueryKind k);
std::string_view to_string(UpstreamError e);
inline constexpr size_t kRcodeSlots = 6;  // NOERROR..REFUSED; others counted in the last

// One worker's counts for one listener.
struct WorkerDns {
  std::array<Counter, static_cast<size_t>(QueryKind::kCount)> queries;
  std::array<Counter, kRcodeSlots + 1> answers;
  std::array<Counter, static_cast<size_t>(UpstreamError::kCount)> upstream_errors;
  uint32_t in_flight = 0;  // forwarded queries awaiting an upstream
};

// One DNS listener across the workers; the gate owns it (it outlives them).
struct DnsListener {
  DnsListener(const ListenerConfig& c, const DnsConfig& d, const MeshZone& z,
              std::vector<asio::ip::udp::endpoint> upstreams, size_t workers);
  const ListenerConfig* config;
  const DnsConfig* dns;
  const MeshZone* zone;
  std::vector<asio::ip::udp::endpoint> upstreams;
  SharedCache cache;  // the forwarded answers, for every worker
  std::vector<std::unique_ptr<WorkerDns>> by_worker;
};

// The `nameserver` addresses of resolv.conf's text, port 53.
std::vector<asio::ip::udp::endpoint> nameservers_of(std::string_view resolv_conf);

std::unique_ptr<DatagramListener> make_udp_server(Worker& worker, ListenerSlot& slot, DnsListener& listener,
                                                  asio::ip::udp::socket socket);

// TCP (RFC 7766): queries framed by their length, answered in order, until
// the client closes, idle_timeout passes, or a frame is not a DNS message.
asio::awaitable<void> dns_tcp_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from);

// ugate_dns_queries_total{kind}, ugate_dns_answers_total{rcode},
// ugate_dns_upstream_errors_total{reason}, ugate_dns_cache_entries.
void register_dns_metrics(MetricRegistry& r, const std::deque<DnsListener>& listeners);

}  // namespace ugate::dns

#include "webpush/push_metrics.h"

#include "webpush/push_server.h"

namespace ugate::webpush {

void register_push_metrics(MetricRegistry& r, const std::vector<std::unique_ptr<PushServer>>& servers) {
  if (servers.empty()) return;
  struct Field {
    const char* name;
    MetricType type;
    const char* help;
    uint64_t (*get)(const PushServer&);
  };
  constexpr auto counter = MetricType::kCounter;
  static const Field fields[] = {
      {"ugate_webpush_subscriptions_created_total", counter, "Push subscriptions created.",
       [](const PushServer& s) -> uint64_t { return s.counters().subscriptions_created; }},
      {"ugate_webpush_messages_accepted_total", counter, "Push messages accepted (201).",
       [](const PushServer& s) -> uint64_t { return s.counters().accepted; }},
      {"ugate_webpush_messages_delivered_total", counter, "Messages handed to subscribers (before their ack).",
       [](const PushServer& s) -> uint64_t { return s.counters().delivered; }},
      {"ugate_webpush_messages_acked_total", counter, "Messages acknowledged by subscribers.",
       [](const PushServer& s) -> uint64_t { return s.counters().acked; }},
      {"ugate_webpush_messages_expired_total", counter, "Messages whose TTL ran out before an ack.",
       [](const PushServer& s) -> uint64_t { return s.counters().expired; }},
      {"ugate_webpush_messages_replaced_total", counter, "Pending messages replaced by a newer one of the same Topic.",
       [](const PushServer& s) -> uint64_t { return s.counters().replaced; }},
      {"ugate_webpush_node_keys_registered_total", counter, "Key registrations of node mailboxes (PUT /node/keys).",
       [](const PushServer& s) -> uint64_t { return s.counters().node_keys; }},
      {"ugate_webpush_node_messages_total", counter, "Messages from one node to another accepted.",
       [](const PushServer& s) -> uint64_t { return s.counters().node_messages; }},
      {"ugate_webpush_receipts_total", counter, "Delivery receipts put into senders' mailboxes.",
       [](const PushServer& s) -> uint64_t { return s.counters().receipts; }},
      {"ugate_webpush_receipts_dropped_total", counter, "Delivery receipts not sent: the sender's mailbox was full.",
       [](const PushServer& s) -> uint64_t { return s.counters().receipts_dropped; }},
      {"ugate_webpush_connections_total", counter, "HTTPS connections accepted.",
       [](const PushServer& s) -> uint64_t { return s.counters().connections; }},
      {"ugate_webpush_tls_failures_total", counter, "TLS handshakes that failed.",
       [](const PushServer& s) -> uint64_t { return s.counters().tls_failed; }},
      {"ugate_webpush_open_connections", MetricType::kGauge, "HTTPS connections open now.",
       [](const PushServer& s) -> uint64_t { return s.open_connections(); }},
      // Counted by the store: one SQL COUNT each, on the control thread that owns it.
      {"ugate_webpush_subscriptions", MetricType::kGauge, "Push subscriptions that exist now.",
       [](const PushServer& s) -> uint64_t { return s.store().subscription_count(); }},
      {"ugate_webpush_node_mailboxes", MetricType::kGauge, "Node mailboxes (nodes that registered their keys).",
       [](const PushServer& s) -> uint64_t { return s.store().node_count(); }},
      {"ugate_webpush_messages_stored", MetricType::kGauge, "Messages stored, not yet acknowledged or expired.",
       [](const PushServer& s) -> uint64_t { return s.store().message_count(); }},
  };
  for (const Field& f : fields) {
    r.add(f.name, f.type, f.help, [&servers, get = f.get](MetricSamples& s) {
      for (const auto& server : servers) s.add(label("listener", server->config().name), get(*server));
    });
  }
  r.add("ugate_webpush_rejected_total", counter, "Requests refused, by reason (the HTTP status says which).",
        [&servers](MetricSamples& s) {
          for (const auto& server : servers)
            for (size_t i = 0; i < static_cast<size_t>(PushReject::kCount); ++i)
              s.add(label("listener", server->config().name) + "," +
                        label("reason", reject_name(static_cast<PushReject>(i))),
                    server->counters().rejected[i]);
        });
}

}  // namespace ugate::webpush

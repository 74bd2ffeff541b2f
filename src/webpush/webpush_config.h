#pragma once
// `protocol: webpush` listeners: the RFC 8030 push service's config, with its
// defaults written once (the config reader and the service both use it).
#include <cstddef>
#include <string>

#include "base/duration.h"

namespace ugate {
namespace webpush {

// What the push service does with messages and subscriptions.
struct PushServiceConfig {
  std::string public_url;  // origin for endpoints and the VAPID audience; "" = https://<Host header>
  size_t max_message_size = 4096;
  size_t max_pending = 100;         // per subscription; 429 above
  size_t max_subscriptions = 100'000;
  Duration default_ttl{24 * 3600 * 1000};   // for /publish without a TTL header
  Duration max_ttl{28LL * 24 * 3600 * 1000};  // longer TTLs are cut to this (and the reply says so)
  std::string trust_domain;  // node mailboxes take peers of this trust domain only ("" = any the roots verify)
};

}  // namespace webpush

struct WebPushConfig {
  std::string tls_cert, tls_key;  // PEM files (tls: {cert, key})
  std::string store;              // SQLite file; default STATE_DIR/webpush-NAME.db
  bool node_mailboxes = true;     // mesh nodes (client certificates from the node's roots) get mailboxes
  webpush::PushServiceConfig service;  // trust_domain: set at start from the node's identity
};

}  // namespace ugate

#include "config/readers.h"

namespace ugate::config_yaml {

WebPushConfig read_webpush(const Reader& r, const YAML::Node& n, const std::string& key) {
  WebPushConfig w;
  const YAML::Node& tls = n["tls"];
  if (!tls) r.fail(n, key, "a webpush listener needs 'tls: { cert: FILE, key: FILE }' (npm web-push only speaks HTTPS)");
  std::string tk = Reader::join(key, "tls");
  r.only_keys(tls, tk, {"cert", "key"});
  if (!tls["cert"] || !tls["key"]) r.fail(tls, tk, "needs both cert and key (PEM files)");
  w.tls_cert = r.scalar(tls["cert"], Reader::join(tk, "cert"));
  w.tls_key = r.scalar(tls["key"], Reader::join(tk, "key"));
  if (const YAML::Node& o = n["webpush"]) {
    std::string wk = Reader::join(key, "webpush");
    r.only_keys(o, wk, {"store", "public_url", "max_message_size", "max_pending", "max_subscriptions", "default_ttl", "max_ttl",
                        "node_mailboxes"});
    if (o["node_mailboxes"]) w.node_mailboxes = r.boolean(o["node_mailboxes"], Reader::join(wk, "node_mailboxes"));
    if (o["store"]) w.store = r.scalar(o["store"], Reader::join(wk, "store"));
    if (o["public_url"]) {
      w.service.public_url = r.scalar(o["public_url"], Reader::join(wk, "public_url"));
      if (!w.service.public_url.starts_with("https://") && !w.service.public_url.starts_with("http://"))
        r.fail(o["public_url"], Reader::join(wk, "public_url"), "expected an https:// URL");
    }
    if (o["max_message_size"]) {
      w.service.max_message_size = r.number(o["max_message_size"], Reader::join(wk, "max_message_size"), 1 << 20);
      if (w.service.max_message_size < 4096)
        r.fail(o["max_message_size"], Reader::join(wk, "max_message_size"), "RFC 8030 needs at least 4096");
    }
    if (o["max_pending"]) w.service.max_pending = r.number(o["max_pending"], Reader::join(wk, "max_pending"), 1'000'000);
    if (o["max_subscriptions"])
      w.service.max_subscriptions = r.number(o["max_subscriptions"], Reader::join(wk, "max_subscriptions"), 100'000'000);
    if (o["default_ttl"]) w.service.default_ttl = r.duration(o["default_ttl"], Reader::join(wk, "default_ttl"));
    if (o["max_ttl"]) w.service.max_ttl = r.duration(o["max_ttl"], Reader::join(wk, "max_ttl"));
  }
  return w;
}

}  // namespace ugate::config_yaml

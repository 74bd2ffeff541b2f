#include "webpush/push_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "identity/identity.h"
#include "identity/node_id.h"
#include "identity/peer_chain.h"
#include "identity/tls_context.h"
#include "runtime/accept_loop.h"
#include "runtime/listen_socket.h"
#include "runtime/spawn.h"
#include "ugate/version.h"

namespace ugate::webpush {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

constexpr std::chrono::seconds kHandshakeTimeout{10};
constexpr std::chrono::seconds kIdleTimeout{60};      // between requests on a kept-alive connection
constexpr std::chrono::seconds kWriteTimeout{30};
constexpr int64_t kDefaultPollSeconds = 30;
constexpr int64_t kMaxPollSeconds = 120;
constexpr size_t kMaxMessagesPerPoll = 100;
constexpr uint32_t kHeaderLimit = 16 * 1024;
// The lingering close after a refused request (see linger()): at most this
// many bytes of what the client still sends are read and dropped, within
// kLingerTime in all and kLingerIdle between two reads.
constexpr uint64_t kLingerBytes = uint64_t{16} << 20;
constexpr std::chrono::seconds kLingerTime{5};
constexpr std::chrono::seconds kLingerIdle{2};

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// The request's Content-Length, when it has one that is a number.
std::optional<uint64_t> content_length_of(const http::request<http::string_body>& req) {
  auto it = req.find(http::field::content_length);
  if (it == req.end()) return std::nullopt;
  std::string_view text = it->value();
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

PushRequest to_push_request(const http::request<http::string_body>& req) {
  PushRequest r;
  r.method = std::string(req.method_string());
  std::string_view target = req.target();
  size_t q = target.find('?');
  r.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
  r.host = std::string(req[http::field::host]);
  r.ttl = std::string(req["TTL"]);
  r.urgency = std::string(req["Urgency"]);
  r.topic = std::string(req["Topic"]);
  r.content_encoding = std::string(req[http::field::content_encoding]);
  r.authorization = std::string(req[http::field::authorization]);
  r.body = req.body();
  return r;
}

nlohmann::json message_json(const StoredMessage& m, int64_t now_ms) {
  nlohmann::json j = {{"id", m.id},
                      {"seq", m.seq},
                      {"urgency", urgency_name(m.urgency)},
                      {"ttl", std::max<int64_t>(0, (m.expires_ms - now_ms) / 1000)},
                      {"encoding", m.body.empty() || !m.receipt_for.empty() ? "" : "aes128gcm"},  // a receipt's data is signed JSON
                      {"data", base64url_encode(m.body)}};
  if (!m.topic.empty()) j["topic"] = m.topic;
  if (!m.sender.empty()) j["from"] = m.sender;  // a node's message, or its receipt
  if (!m.receipt_for.empty()) j["receipt"] = m.receipt_for;
  if (!m.channel.empty()) j["channel"] = m.channel;
  return j;
}

// Who a verified client certificate names (empty when the client sent none).
PushPeer mesh_peer_of(SSL* ssl) {
  PushPeer peer;
  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (!leaf) return peer;
  auto id = spiffe_id_of(leaf);
  if (!id) return peer;  // a certificate without one SPIFFE ID names no node
  peer.spiffe_id = id->str();
  peer.trust_domain = id->trust_domain;
  peer.node_id = node_id_of(X509_get0_pubkey(leaf));
  peer.key = crypto::p256_public_raw(X509_get0_pubkey(leaf));
  peer.chain.push_back(to_der(leaf));
  if (STACK_OF(X509)* rest = SSL_get_peer_cert_chain(ssl)) {  // server side: without the leaf
    for (int i = 0; i < sk_X509_num(rest); ++i) peer.chain.push_back(to_der(sk_X509_value(rest, i)));
  }
  return peer;
}

// GET /s/ID (or /node/inbox)[?wait=SECONDS][&after=SEQ]: the subscriber's unacknowledged
// messages as JSON once there is at least one, or 204 after `wait` seconds.
// An `Urgency` request header filters out less urgent messages (RFC 8030 5.3).
// A `wait` or `after` that is there but not a number is refused (400), never
// taken as its default: after=0 would hand out every message again.
asio::awaitable<PushReply> long_poll(PushService& service, const PushRequest& req, const std::string& sub_id) {
  std::string bad;
  std::optional<int64_t> wait_arg = query_number(req.query, "wait", &bad);
  std::optional<int64_t> after_arg;
  if (bad.empty()) after_arg = query_number(req.query, "after", &bad);
  if (!bad.empty()) {
    ++service.counters().rejected[static_cast<size_t>(PushReject::kBadRequest)];
    co_return PushReply{400, bad + "\n"};
  }
  PushReply error;
  if (!service.receiver(sub_id, &error)) co_return error;
  int64_t wait = std::min(wait_arg.value_or(kDefaultPollSeconds), kMaxPollSeconds);
  int64_t after = after_arg.value_or(0);
  Urgency min_urgency = parse_urgency(req.urgency).value_or(Urgency::kVeryLow);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait);
  for (;;) {
    auto messages = service.pending(sub_id, after, min_urgency);
    if (!messages.empty()) {
      if (messages.size() > kMaxMessagesPerPoll) messages.resize(kMaxMessagesPerPoll);
      service.count_delivered(messages.size());
      nlohmann::json list = nlohmann::json::array();
      int64_t now = PushService::now_ms();
      for (const auto& m : messages) list.push_back(message_json(m, now));
      co_return PushReply{200, nlohmann::json{{"messages", list}}.dump() + "\n", "application/json"};
    }
    if (std::chrono::steady_clock::now() >= deadline) co_return PushReply{204};
    auto waiter = service.watch(sub_id);
    waiter->timer.expires_at(deadline);
    co_await waiter->timer.async_wait(use_nothrow);
    if (!service.receiver(sub_id, &error)) co_return error;  // unsubscribed meanwhile
  }
}

// After a request refused before it was read to its end (413: the body;
// 431: the rest of the header and any body), the client is typically still
// sending, and reads the answer only once its request is out. Closing now,
// with its input unread, makes the kernel send a RST, which makes the
// client's send fail and can discard the answer before it is read. So we
// read and drop what it still sends, then close (nginx's "lingering close").
//
// Bounded: at most kLingerBytes (16 MiB) in all, kLingerTime (5 s) in all and
// kLingerIdle (2 s) between two reads. `rest` is what is left of the body
// when its length is known (Content-Length): reading stops once it is in,
// so a client that sends its whole body (up to the bound) reads the answer.
// A longer or slower body is cut: that client may see a reset instead.
// True when the client sent all it meant to (rest read, or it closed): the
// connection can end with a TLS close_notify; false when a bound cut it.
asio::awaitable<bool> linger(TlsStream& stream, std::optional<uint64_t> rest) {
  auto& tcp_layer = beast::get_lowest_layer(stream);
  const auto deadline = std::chrono::steady_clock::now() + kLingerTime;
  uint64_t left = std::min<uint64_t>(rest.value_or(kLingerBytes), kLingerBytes);
  const bool whole = rest && *rest <= kLingerBytes;  // reading `left` reads the whole body
  char sink[16384];
  while (left > 0) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) co_return false;
    tcp_layer.expires_at(std::min(deadline, now + kLingerIdle));
    size_t want = static_cast<size_t>(std::min<uint64_t>(left, sizeof sink));
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink, want), use_nothrow);
    if (ec) {
      // The client closed (TCP or TLS): nothing more comes. A timeout closed the socket.
      bool timed_out = ec == beast::error::timeout;
      co_return !timed_out;
    }
    left -= n;
  }
  co_return whole;
}

}  // namespace

PushServer::PushServer(asio::io_context& ctx, PushServerConfig config)
    : ctx_(ctx), config_(std::move(config)), tls_(ssl::context::tls_server) {
  tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  public_server_policy(tls_.native_handle());  // the ciphers and options of every TLS 1.2 server of ours
  boost::system::error_code ec;
  tls_.use_certificate_chain_file(config_.push.tls_cert, ec);
  if (ec) throw std::runtime_error("listener '" + config_.name + "': tls.cert " + config_.push.tls_cert + ": " + ec.message());
  tls_.use_private_key_file(config_.push.tls_key, ssl::context::pem, ec);
  if (ec) throw std::runtime_error("listener '" + config_.name + "': tls.key " + config_.push.tls_key + ": " + ec.message());
  std::string error;
  auto store = PushStore::open(config_.push.store, &error);
  if (!store) throw std::runtime_error("listener '" + config_.name + "': store " + error);
  if (!config_.client_roots.empty()) {
    // Asked for, not required: browsers and application servers have none.
    SSL_CTX* ctx = tls_.native_handle();
    X509_STORE* roots = SSL_CTX_get_cert_store(ctx);
    for (const auto& r : config_.client_roots) {
      X509_STORE_add_cert(roots, r.get());
      // Named in the CertificateRequest, so that a browser offers (or asks its
      // user about) only certificates of these CAs: in practice none.
      SSL_CTX_add_client_CA(ctx, r.get());
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    static const unsigned char kSessionContext[] = "ugate-webpush";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  }
  service_ = std::make_unique<PushService>(ctx_, std::move(store), config_.push.service);
}

PushServer::~PushServer() = default;

void PushServer::start(const tcp::endpoint& ep) {
  acceptor_.emplace(open_listen_socket(ctx_, ep, "listener '" + config_.name + "'", false));
  spawn(ctx_.get_executor(), accept_loop(), "listener " + config_.name + ": accept loop");
}

void PushServer::stop() {
  boost::system::error_code ignored;
  if (acceptor_) acceptor_->close(ignored);
}

asio::awaitable<void> PushServer::accept_loop() {
  co_await accept_connections(*acceptor_, config_.max_connections, connections_, "webpush " + config_.name,
                              [this](tcp::socket s) { return serve(std::move(s)); });
}

asio::awaitable<void> PushServer::serve(tcp::socket socket) {
  ++service_->counters().connections;
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  TlsStream stream(std::move(socket), tls_);
  auto& tcp_layer = beast::get_lowest_layer(stream);
  tcp_layer.expires_after(kHandshakeTimeout);
  auto [hs_ec] = co_await stream.async_handshake(ssl::stream_base::server, use_nothrow);
  if (hs_ec) {
    ++service_->counters().tls_failed;
    spdlog::debug("webpush {}: TLS handshake: {}", config_.name, hs_ec.message());
    co_return;
  }
  const PushPeer peer = mesh_peer_of(stream.native_handle());
  const size_t body_limit = std::max<size_t>(config_.push.service.max_message_size, 4096);
  beast::flat_buffer buffer;
  bool cut = false;  // a bound of the lingering close cut the client off
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(body_limit);
    tcp_layer.expires_after(kIdleTimeout);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_nothrow);
    // A header block over kHeaderLimit: answered 431 and closed. Nothing of
    // the request is known for sure, not even its version or where it ends.
    bool header_too_large = ec == http::error::header_limit;
    // A Content-Length above the limit fails here already, with the header parsed.
    bool too_large = ec == http::error::body_limit;
    if (ec && !too_large && !header_too_large) break;
    if (!ec) {
      auto [bec, bn] = co_await http::async_read(stream, buffer, parser, use_nothrow);
      too_large = bec == http::error::body_limit;
      if (bec && !too_large) break;
    }
    const bool refused_unread = header_too_large || too_large;  // the request's rest is not read
    const auto& req = parser.get();
    PushReply reply;
    std::optional<uint64_t> rest;  // of a refused body whose length is known
    if (header_too_large) {
      ++service_->counters().rejected[static_cast<size_t>(PushReject::kBadRequest)];
      reply = {431, "request header fields too large\n"};
    } else if (too_large) {
      ++service_->counters().rejected[static_cast<size_t>(PushReject::kTooLarge)];
      reply = {413, "message too large\n"};
      // What the buffer holds past the header is body already read.
      // From the field: when the length itself is over the limit, the parser
      // stops before it counts the header done (and content_length() asserts).
      if (auto length = content_length_of(req)) rest = *length > buffer.size() ? *length - buffer.size() : 0;
    } else {
      PushRequest pr = to_push_request(req);
      pr.peer = &peer;
      if (req.method() == http::verb::get && pr.path.starts_with("/s/")) {
        tcp_layer.expires_never();
        reply = co_await long_poll(*service_, pr, pr.path.substr(3));
      } else if (req.method() == http::verb::get && pr.path == "/node/inbox") {
        if (auto inbox = service_->node_inbox(pr, &reply)) {
          tcp_layer.expires_never();
          reply = co_await long_poll(*service_, pr, *inbox);
        }
      } else {
        reply = service_->handle(pr);
      }
    }

    unsigned version = 11;  // a 431's request line may not have been read
    if (!header_too_large) version = req.version();
    http::response<http::string_body> res{static_cast<http::status>(reply.status), version};
    res.set(http::field::server, std::string("ugate/") + kVersion);
    if (!reply.body.empty()) res.set(http::field::content_type, reply.content_type);
    for (auto& [name, value] : reply.headers) res.set(name, value);
    res.keep_alive(!refused_unread && req.keep_alive());  // an unread request cannot be skipped
    res.body() = std::move(reply.body);
    res.prepare_payload();
    tcp_layer.expires_after(kWriteTimeout);
    auto [wec, wn] = co_await http::async_write(stream, res, use_nothrow);
    if (!wec && refused_unread) {
      bool complete = co_await linger(stream, rest);
      cut = !complete;
    }
    if (wec || !res.keep_alive()) break;
  }
  if (cut) {
    // Input is still coming: a TLS shutdown would go on reading (and
    // dropping) it for as long as its timer runs. Close now; the kernel
    // resets the connection.
    boost::system::error_code close_ec;
    tcp_layer.socket().close(close_ec);
    co_return;
  }
  tcp_layer.expires_after(std::chrono::seconds(2));
  co_await stream.async_shutdown(use_nothrow);
}

}  // namespace ugate::webpush

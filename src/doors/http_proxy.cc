// `protocol: http-proxy`: an HTTP/1.1 forward proxy.
//
// CONNECT host:port dials the target and answers 200 (or 502/504) through
// Session's reply; then the tunnel is spliced, with bytes the client sent
// after its request replayed first. Absolute-form requests
// (`GET http://host/path`) are forwarded one by one on a kept-alive client
// connection: the head is rewritten to origin form without hop-by-hop
// headers, bodies pass as they are (Content-Length or chunked, followed by
// ChunkedScanner), and the upstream connection is kept for the next request
// to the same host:port. Each request is one line in the access log.
#include <fmt/format.h>

#include "base/base64.h"
#include "session/session.h"
#include "doors/doors.h"
#include "codec/http1_codec.h"
#include "transport/handshake_buffer.h"
#include "transport/stream_wait.h"

namespace ugate {
namespace {

using http1::BodyKind;
using http1::Framing;
using http1::Head;
using HeadResult = Result<Head, http1::Error>;

constexpr size_t kMaxRequestHead = 32 * 1024;   // larger: 431
constexpr size_t kMaxResponseHead = 64 * 1024;  // larger: 502
constexpr size_t kDrainBeforeClose = 256 * 1024;

std::string error_response(int status, std::string_view phrase, std::string_view detail) {
  std::string body = fmt::format("ugate: {}\n", detail);
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n{}", status,
      phrase, body.size(), status == 407 ? "Proxy-Authenticate: Basic realm=\"ugate\"\r\n" : "", body);
}

// 502, or 504 for a timeout: what the client learns of a failed dial.
std::string dial_failure(CloseReason r, const HostPort& to) {
  switch (r) {
    case CloseReason::kConnectTimeout:
      return error_response(504, "Gateway Timeout", fmt::format("connecting to {} timed out", to.str()));
    case CloseReason::kConnectRefused:
      return error_response(502, "Bad Gateway", fmt::format("connection refused by {}", to.str()));
    case CloseReason::kResolveFailed:
      return error_response(502, "Bad Gateway", fmt::format("cannot resolve {}", to.host));
    case CloseReason::kDenied:
      return error_response(403, "Forbidden", fmt::format("{} is not allowed for this client", to.str()));
    case CloseReason::kNotAllowed:  // the allow list passed: this node's admin port (reach_admin)
      return error_response(403, "Forbidden", fmt::format("{} is not allowed through this proxy", to.str()));
    case CloseReason::kUnreachable:
      return error_response(502, "Bad Gateway", fmt::format("{} is unreachable", to.str()));
    default:
      return error_response(502, "Bad Gateway", fmt::format("cannot connect to {} ({})", to.str(), to_string(r)));
  }
}

// Proxy-Authorization: Basic base64(user:password); "" when it does not check out.
std::string authenticated_user(const ListenerConfig& l, const Head& h) {
  const std::string* value = h.find("proxy-authorization");
  if (!value || value->size() < 6) return "";
  std::string_view v = *value;
  std::string scheme(v.substr(0, 6));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "basic ") return "";
  auto decoded = base64url_decode(v.substr(6));
  if (!decoded) return "";
  std::string_view pair = as_text(*decoded);
  auto colon = pair.find(':');
  if (colon == std::string_view::npos) return "";
  std::string_view user = pair.substr(0, colon), password = pair.substr(colon + 1);
  return verify_user(l, user, password) ? std::string(user) : "";
}

bool client_keeps_alive(const Head& request) {
  if (request.minor == 0)
    return request.lists("connection", "keep-alive") || request.lists("proxy-connection", "keep-alive");
  return !request.lists("connection", "close") && !request.lists("proxy-connection", "close");
}

// The request as the origin gets it: origin form, its own Host, no
// hop-by-hop headers, a Via.
std::string upstream_head(const Head& r, const http1::AbsoluteUri& uri, bool drop_expect) {
  std::string out = fmt::format("{} {} HTTP/1.{}\r\nHost: {}\r\n", r.method, uri.path, r.minor, uri.authority);
  for (const auto& h : r.headers) {
    if (http1::is_hop_by_hop(r, h.name) || http1::same_name(h.name, "host")) continue;
    if (drop_expect && http1::same_name(h.name, "expect")) continue;
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  out += fmt::format("Via: 1.{} ugate\r\n\r\n", r.minor);
  return out;
}

std::string client_head(const Head& r, bool keep_alive, bool http10_client) {
  std::string out = fmt::format("HTTP/1.1 {} {}\r\n", r.status, r.reason);
  for (const auto& h : r.headers) {
    if (http1::is_hop_by_hop(r, h.name)) continue;
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  if (!keep_alive) out += "Connection: close\r\n";
  else if (http10_client) out += "Connection: keep-alive\r\n";
  out += "\r\n";
  return out;
}

class HttpProxyConnection {
 public:
  HttpProxyConnection(ListenerSlot& slot, std::unique_ptr<Session> session, TcpStream& client)
      : config_(*slot.config), slot_(slot), session_(std::move(session)), client_(client), in_(kMaxRequestHead) {}

  asio::awaitable<void> run() {
    session_->start_sniffing(config_.sniff_timeout);
    for (bool first = true;; first = false) {
      if (!first) {
        // Between requests the connection may idle; once a request starts,
        // its head must arrive within sniff_timeout.
        session_->start_relaying(config_.idle_timeout);
        if (in_.data().empty()) {
          error_code ec = co_await in_.read_more(client_);
          if (ec) {
            session_->finish(CloseReason::kDone);  // the client is done
            co_return;
          }
        }
        session_->start_sniffing(config_.sniff_timeout);
      }
      HeadResult p = co_await read_head(in_, client_, http1::parse_request_head);
      if (!p) {
        if (p.need_more()) {
          // Closed or reset mid-head (or cut by the deadline, which set its own reason).
          session_->fail(CloseReason::kDownstreamReset);
        } else if (p.error() == http1::Error::kTooLarge) {
          co_await refuse(error_response(431, "Request Header Fields Too Large", "request head too large"),
                          CloseReason::kBadRequest);
        } else {
          co_await refuse(error_response(400, "Bad Request", http1::to_string(p.error())), CloseReason::kBadRequest);
        }
        co_return;
      }
      in_.consume(p->size);
      const Head& request = *p;
      session_->begin_exchange();
      std::string user = authenticated_user(config_, request);
      if (!config_.users.empty() && user.empty()) {
        co_await refuse(error_response(407, "Proxy Authentication Required", "proxy authentication required"),
                        CloseReason::kAuthFailed);
        co_return;
      }
      if (!user.empty()) session_->meta().user = user;
      if (request.method == "CONNECT") {
        co_await tunnel(request);
        co_return;
      }
      bool more = co_await exchange(request);
      if (!more) co_return;
    }
  }

 private:
  // Reads until `parse` has a whole head in `in`: still kNeedMore when the
  // stream ended or failed first, kTooLarge when the head outgrew `in`.
  static asio::awaitable<HeadResult> read_head(HandshakeBuffer& in, Stream& from,
                                               HeadResult (*parse)(std::span<const uint8_t>)) {
    for (;;) {
      HeadResult p = parse(in.data());
      if (!p.need_more()) co_return p;
      error_code ec = co_await in.read_more(from);
      if (ec == asio::error::message_size) co_return http1::Error::kTooLarge;
      if (ec) co_return p;
    }
  }

  // Answers with an error and closes: what the client already sent is read
  // first (up to a bound), so that closing does not turn into a reset that
  // would destroy the answer.
  asio::awaitable<void> refuse(std::string response, CloseReason reason) {
    if (!session_->exchange_open()) session_->begin_exchange();
    char sink[4096];
    for (size_t drained = 0; drained < kDrainBeforeClose;) {
      error_code ec;
      size_t n = client_.try_read(asio::buffer(sink), ec);
      if (ec) break;
      drained += n;
    }
    co_await write_all(client_, response);
    session_->finish(reason);
  }

  void moved(bool up, size_t n) {
    StreamMeta& m = session_->meta();
    (up ? m.bytes_up : m.bytes_down) += n;
    (up ? slot_.stats.bytes_up : slot_.stats.bytes_down).add(n);
    session_->active();
  }

  asio::awaitable<bool> send(Stream& to, std::string_view bytes, bool up) {
    error_code ec = co_await write_all(to, bytes);
    if (ec) co_return false;
    moved(up, bytes.size());
    co_return true;
  }

  asio::awaitable<void> tunnel(const Head& request) {
    auto target = http1::parse_authority(request.target);
    if (!target || target->port == 0) {
      co_await refuse(error_response(400, "Bad Request", "CONNECT needs host:port"), CloseReason::kBadRequest);
      co_return;
    }
    if (!allows(config_, *target)) {
      session_->meta().destination = *target;
      co_await refuse(error_response(403, "Forbidden", "destination not allowed"), CloseReason::kNotAllowed);
      co_return;
    }
    session_->close_upstream();
    session_->meta().mode = ProxyMode::kNone;
    ForwardOptions options;
    options.replay = in_.take_rest();
    options.reply = [to = *target](const DialOutcome& o) {
      return o.result == CloseReason::kDone ? std::string("HTTP/1.1 200 Connection established\r\n\r\n")
                                            : dial_failure(o.result, to);
    };
    co_await Session::forward(std::move(session_), std::move(*target), std::move(options));
  }

  // One absolute-form request and its response; false when the connection ended.
  asio::awaitable<bool> exchange(const Head& request) {
    auto uri = http1::parse_absolute_uri(request.target);
    if (!uri) {
      std::string_view why = request.target.starts_with("https://") ? "https:// URLs go through CONNECT"
                             : request.target.starts_with("/")       ? "not a proxy request (origin-form target)"
                                                                     : "expected an absolute http:// URI";
      co_await refuse(error_response(400, "Bad Request", why), CloseReason::kBadRequest);
      co_return false;
    }
    auto framing = http1::request_framing(request);
    if (!framing) {
      co_await refuse(error_response(400, "Bad Request", "invalid Content-Length or Transfer-Encoding"),
                      CloseReason::kBadRequest);
      co_return false;
    }
    if (!allows(config_, uri->destination)) {
      session_->meta().destination = uri->destination;
      co_await refuse(error_response(403, "Forbidden", "destination not allowed"), CloseReason::kNotAllowed);
      co_return false;
    }

    // Reuse the upstream connection when it goes to the same place and is still open.
    StreamMeta& m = session_->meta();
    bool reuse = reusable_ && session_->has_upstream() && upstream_to_ == uri->destination &&
                 !session_->upstream().peer_finished() && up_in_->data().empty();
    if (reuse) {
      m.destination = uri->destination;
    } else {
      HostPort to = uri->destination;
      CloseReason r = co_await session_->dial(std::move(to), true);
      if (r != CloseReason::kDone) {
        co_await refuse(dial_failure(r, uri->destination), r);
        co_return false;
      }
      upstream_to_ = uri->destination;
      if (!up_in_) up_in_.emplace(kMaxResponseHead);
      up_in_->clear();
    }
    reusable_ = false;
    m.mode = ProxyMode::kCopy;
    session_->start_relaying(config_.idle_timeout);
    Stream& upstream = session_->upstream();

    const bool expect_continue = request.minor == 1 && framing->kind != BodyKind::kNone &&
                                 request.lists("expect", "100-continue");
    std::string head = upstream_head(request, *uri, expect_continue);
    bool sent = co_await send(upstream, head, true);
    if (!sent) co_return fail(CloseReason::kUpstreamReset);
    // The origin never sees the Expect: ugate asks for the body itself.
    std::string go_on = "HTTP/1.1 100 Continue\r\n\r\n";
    if (expect_continue) {
      error_code ec = co_await write_all(client_, go_on);
      if (ec) co_return fail(CloseReason::kDownstreamReset);
    }
    CloseReason relayed = co_await relay_body(*framing, in_, client_, upstream, true);
    if (relayed == CloseReason::kBadRequest) {
      session_->close_upstream();  // it has the start of a body that will not end
      co_await refuse(error_response(400, "Bad Request", "invalid chunked request body"), CloseReason::kBadRequest);
      co_return false;
    }
    if (relayed != CloseReason::kDone) co_return fail(relayed);

    // The response: interim (1xx) heads pass on, then the final one, which
    // must begin within response_timeout.
    session_->await_answer(config_.response_timeout);
    HeadResult p = http1::Error::kNeedMore;
    for (;;) {
      p = co_await read_head(*up_in_, upstream, http1::parse_response_head);
      if (!p && session_->answer_timed_out()) {
        std::string why = fmt::format("no response from {} within {}", uri->destination.str(),
                                      format_duration(config_.response_timeout));
        co_await refuse(error_response(504, "Gateway Timeout", why), CloseReason::kResponseTimeout);
        co_return false;
      }
      if (!p) {
        // Named first: a ?: in a co_await's expression is a GCC 12 double free (check_coroutines.py).
        std::string why = p.need_more() ? "the upstream closed without a response"
                                        : fmt::format("invalid response: {}", http1::to_string(p.error()));
        co_await refuse(error_response(502, "Bad Gateway", why), CloseReason::kUpstreamReset);
        co_return false;
      }
      up_in_->consume(p->size);
      if (p->status >= 200) break;
      if (p->status == 101) {
        co_await refuse(error_response(502, "Bad Gateway", "unexpected 101 from the upstream"),
                        CloseReason::kUpstreamReset);
        co_return false;
      }
      if (p->status == 100 && expect_continue) continue;  // the client had ours
      std::string interim = client_head(*p, true, false);
      sent = co_await send(client_, interim, false);
      if (!sent) co_return fail(CloseReason::kDownstreamReset);
    }
    session_->start_relaying(config_.idle_timeout);
    const Head& response = *p;
    auto body = http1::response_framing(response, request.method);
    if (!body) {
      co_await refuse(error_response(502, "Bad Gateway", "invalid Content-Length from the upstream"),
                      CloseReason::kUpstreamReset);
      co_return false;
    }
    const bool keep_alive = client_keeps_alive(request) && body->kind != BodyKind::kUntilClose;
    std::string out = client_head(response, keep_alive, request.minor == 0);
    sent = co_await send(client_, out, false);
    if (!sent) co_return fail(CloseReason::kDownstreamReset);
    relayed = co_await relay_body(*body, *up_in_, upstream, client_, false);
    if (relayed != CloseReason::kDone) co_return fail(relayed);

    reusable_ = request.minor == 1 && response.minor == 1 && !response.lists("connection", "close") &&
                body->kind != BodyKind::kUntilClose && up_in_->data().empty();
    session_->end_exchange(CloseReason::kDone);
    if (!keep_alive) {
      session_->close_upstream();
      session_->finish(CloseReason::kDone);
      co_return false;
    }
    co_return true;
  }

  // A broken exchange: nothing more can be said to the client.
  bool fail(CloseReason reason) {
    session_->close_upstream();
    session_->fail(reason);
    return false;
  }

  // Moves one message body from `from` (first what `in` holds) to `to`.
  asio::awaitable<CloseReason> relay_body(Framing f, HandshakeBuffer& in, Stream& from, Stream& to, bool up) {
    const CloseReason source_failed = up ? CloseReason::kDownstreamReset : CloseReason::kUpstreamReset;
    const CloseReason sink_failed = up ? CloseReason::kUpstreamReset : CloseReason::kDownstreamReset;
    uint64_t left = f.length;
    http1::ChunkedScanner chunks;
    while (f.kind != BodyKind::kNone) {
      if (in.data().empty()) {
        error_code ec = co_await in.read_more(from);
        if (ec == asio::error::eof && f.kind == BodyKind::kUntilClose) break;
        if (ec) co_return source_failed;  // closed or failed before the body's end
      }
      auto bytes = in.data();
      size_t take = bytes.size();
      if (f.kind == BodyKind::kLength) take = static_cast<size_t>(std::min<uint64_t>(left, bytes.size()));
      if (f.kind == BodyKind::kChunked) {
        auto scanned = chunks.scan(bytes);
        if (!scanned) co_return up ? CloseReason::kBadRequest : CloseReason::kUpstreamReset;
        take = *scanned;
      }
      bool sent = co_await send(to, as_text(bytes.first(take)), up);
      if (!sent) co_return sink_failed;
      in.consume(take);
      left -= f.kind == BodyKind::kLength ? take : 0;
      if ((f.kind == BodyKind::kLength && left == 0) || (f.kind == BodyKind::kChunked && chunks.done())) break;
    }
    co_return CloseReason::kDone;
  }

  const ListenerConfig& config_;
  ListenerSlot& slot_;
  std::unique_ptr<Session> session_;
  TcpStream& client_;
  HandshakeBuffer in_;                   // from the client
  std::optional<HandshakeBuffer> up_in_;  // from the upstream, once there is one
  HostPort upstream_to_;
  bool reusable_ = false;  // the upstream connection may carry the next request
};

}  // namespace

asio::awaitable<void> http_proxy_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from) {
  return serve_accepted(worker, slot, fd, std::move(from), serve_http_proxy);
}

asio::awaitable<void> serve_http_proxy(Worker& worker, ListenerSlot& slot, std::unique_ptr<Session> session,
                                       TcpStream& client) {
  HttpProxyConnection connection(slot, std::move(session), client);
  co_await connection.run();
}

}  // namespace ugate

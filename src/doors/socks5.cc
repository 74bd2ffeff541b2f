// `protocol: socks5`: RFC 1928 with RFC 1929 username/password. The
// handshake is read (consumed) within sniff_timeout; CONNECT then dials the
// client's target and answers with the outcome (Session's reply), and bytes
// the client sent past its request are replayed to the target. UDP
// ASSOCIATE runs a relay (socks5_udp.cc) for as long as the TCP connection.
#include "session/session.h"
#include "doors/doors.h"
#include "codec/socks5_codec.h"
#include "transport/handshake_buffer.h"
#include "transport/stream_wait.h"

namespace ugate {
namespace {

using socks5::Reply;

// Greeting, credentials and request together fit, with room for a client
// that sends its first bytes of payload without waiting for the reply.
constexpr size_t kHandshakeBytes = 2048;

Reply reply_for(CloseReason r) {
  switch (r) {
    case CloseReason::kDone: return Reply::kSucceeded;
    case CloseReason::kConnectRefused: return Reply::kConnectionRefused;
    case CloseReason::kConnectTimeout: return Reply::kTtlExpired;
    case CloseReason::kResolveFailed: return Reply::kHostUnreachable;
    case CloseReason::kUnreachable: return Reply::kHostUnreachable;
    case CloseReason::kNotAllowed: return Reply::kNotAllowed;
    case CloseReason::kDenied: return Reply::kNotAllowed;
    default: return Reply::kGeneralFailure;
  }
}

// Reads until `parse` has a whole message, and consumes it; still kNeedMore
// when the client closed, failed or went silent past the deadline.
template <typename T>
asio::awaitable<Result<T, socks5::Error>> read_message(HandshakeBuffer& buf, Stream& s,
                                                        Result<T, socks5::Error> (*parse)(std::span<const uint8_t>)) {
  for (;;) {
    Result<T, socks5::Error> p = parse(buf.data());
    if (p) buf.consume(p->size);
    if (!p.need_more()) co_return p;
    error_code ec = co_await buf.read_more(s);
    if (ec) co_return p;
  }
}

// Writes the door's answer; false when the client is gone.
asio::awaitable<bool> answer(Stream& s, std::string bytes) {
  error_code ec = co_await write_all(s, bytes);
  co_return !ec;
}

}  // namespace

asio::awaitable<void> socks5_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from) {
  return serve_accepted(worker, slot, fd, std::move(from), serve_socks5);
}

asio::awaitable<void> serve_socks5(Worker& worker, ListenerSlot& slot, std::unique_ptr<Session> session,
                                   TcpStream& client) {
  using namespace socks5;
  const ListenerConfig& config = *slot.config;
  session->start_sniffing(config.sniff_timeout);
  HandshakeBuffer buf(kHandshakeBytes);

  auto greeting = co_await read_message(buf, client, parse_greeting);
  if (!greeting) {
    CloseReason why = greeting.need_more() ? CloseReason::kDownstreamReset : CloseReason::kSniffFailed;
    session->fail(why);
    co_return;
  }
  Method method = !config.users.empty() ? (greeting->user_pass ? Method::kUserPass : Method::kNoAcceptable)
                                        : (greeting->no_auth ? Method::kNoAuth : Method::kNoAcceptable);
  bool answered = co_await answer(client, method_reply(method));
  if (!answered) {
    session->fail(CloseReason::kDownstreamReset);
    co_return;
  }
  if (method == Method::kNoAcceptable) {
    session->finish(CloseReason::kAuthFailed);
    co_return;
  }
  if (method == Method::kUserPass) {
    auto creds = co_await read_message(buf, client, parse_credentials);
    if (!creds) {
      CloseReason why = creds.need_more() ? CloseReason::kDownstreamReset : CloseReason::kBadRequest;
      session->fail(why);
      co_return;
    }
    bool ok = verify_user(config, creds->user, creds->password);
    if (ok) session->meta().user = creds->user;
    answered = co_await answer(client, auth_reply(ok));
    if (!answered) {
      session->fail(CloseReason::kDownstreamReset);
      co_return;
    }
    if (!ok) {
      session->finish(CloseReason::kAuthFailed);
      co_return;
    }
  }

  auto request = co_await read_message(buf, client, parse_request);
  if (request.need_more()) {
    session->fail(CloseReason::kDownstreamReset);
    co_return;
  }
  if (!request) {
    std::optional<Reply> refusal = error_reply(request.error());
    if (!refusal) {
      session->fail(CloseReason::kBadRequest);
    } else {
      co_await answer(client, reply(*refusal, TcpEndpoint{}));
      session->finish(CloseReason::kBadRequest);
    }
    co_return;
  }
  HostPort target = std::move(request->target);
  if (request->command == Command::kUdpAssociate) {
    co_await socks5_udp_associate(worker, slot, std::move(session), client, std::move(target));
    co_return;
  }
  if (!allows(config, target)) {
    session->meta().destination = target;
    co_await answer(client, reply(Reply::kNotAllowed, TcpEndpoint{}));
    session->finish(CloseReason::kNotAllowed);
    co_return;
  }
  ForwardOptions options;
  options.replay = buf.take_rest();
  options.reply = [](const DialOutcome& o) { return reply(reply_for(o.result), o.local); };
  co_await Session::forward(std::move(session), std::move(target), std::move(options));
}

}  // namespace ugate

#include <array>

#include "session/session.h"
#include "policy/listener_auth.h"
#include "doors/doors.h"
#include "doors/tls_handshake.h"
#include "transport/peek.h"
#include "codec/tls_hello.h"

namespace ugate {

asio::awaitable<void> tls_sni_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from) {
  auto stream = Session::accepted_stream(worker, slot, fd, from);
  TcpStream& tcp = *stream;
  auto session = Session::create(worker, slot, std::move(stream), std::move(from.admission));
  session->start_sniffing(slot.config->sniff_timeout);

  // Peek until the ClientHello is whole; the session's deadline ends a slow client.
  auto buf = std::make_unique<std::array<uint8_t, kMaxHelloBytes>>();
  Result<ClientHello, HelloError> hello = HelloError::kNeedMore;
  auto whole = [&hello](std::span<const uint8_t> bytes) {
    hello = parse_client_hello(bytes);
    return !hello.need_more();
  };
  co_await peek_until(tcp, *buf, whole);
  buf.reset();
  if (!hello) {
    session->fail(CloseReason::kSniffFailed);  // a timeout set its own reason first
    co_return;
  }
  co_await route_by_sni(std::move(session), slot, *hello);
}

asio::awaitable<void> route_by_sni(std::unique_ptr<Session> session, ListenerSlot& slot, const ClientHello& hello) {
  StreamMeta& m = session->meta();
  m.sni = hello.sni;
  for (const auto& p : hello.alpn) m.alpn += (m.alpn.empty() ? "" : ",") + p;
  const Route* route = slot.config->router.match(m.sni, slot.config->address.port);
  if (!route) {
    session->fail(CloseReason::kNoRoute);
    co_return;
  }
  if (route->terminate) {
    // The certificate of the route the SNI chose answers; the upstream gets plaintext.
    m.alpn.clear();
    ossl::SslCtx ctx = slot.auth ? slot.auth->terminate_context(*route) : nullptr;
    bool accepted = false;
    if (ctx) accepted = co_await accept_tls(*session, ctx.get(), slot.config->handshake_timeout);
    if (!accepted) {
      if (!ctx) session->fail(CloseReason::kOverload);
      co_return;
    }
  }
  co_await Session::forward(std::move(session), route->forward);
}

}  // namespace ugate

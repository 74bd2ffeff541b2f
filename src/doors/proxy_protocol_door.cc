// accept_proxy_protocol: a load balancer in front of a listener says, in a
// PROXY protocol header (v1 or v2) at the start of each connection, which
// client the connection is for. Only the sources the listener trusts may;
// from them the header is required (HAProxy's spec: a receiver must not
// guess whether one is there), and from anyone else it is never read, so a
// client cannot choose the address ugate records for it.
#include <array>
#include <atomic>
#include <memory>

#include "codec/proxy_protocol.h"
#include "doors/doors.h"
#include "session/session.h"
#include "transport/peek.h"

namespace ugate {
namespace {

using HeaderResult = Result<ProxyHeader, ProxyHeaderError>;

// Why a trusted source's connection that brought no whole header is refused,
// and what the log says: no header at all is sniff_failed (the balancer
// sends none: is it set to?); a broken or cut one is bad_request.
CloseReason refusal(const HeaderResult& header, size_t seen, std::string& detail) {
  if (header.need_more() && seen == 0) {
    detail = "the connection ended before a PROXY header";
    return CloseReason::kSniffFailed;
  }
  if (header.need_more()) {
    detail = "the connection ended inside its PROXY header (after " + std::to_string(seen) + " bytes)";
    return CloseReason::kBadRequest;
  }
  detail = std::string(to_string(header.error()));
  return header.error() == ProxyHeaderError::kNotProxy ? CloseReason::kSniffFailed : CloseReason::kBadRequest;
}

}  // namespace

asio::awaitable<void> proxy_protocol_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from) {
  static std::atomic<bool> said_missing{false}, said_malformed{false};
  Door door = door_for(slot.config->protocol);
  if (!in_any(slot.config->accept_proxy_protocol_from, from.source.address())) {
    co_await door(worker, slot, fd, std::move(from));  // as if the option were not there
    co_return;
  }

  // The header is peeked until whole, within sniff_timeout (the session's
  // deadline closes the stream), then exactly its bytes are read: the door
  // finds the client's own bytes first, as if it had accepted the connection.
  auto stream = Session::accepted_stream(worker, slot, fd, from);
  TcpStream& client = *stream;
  auto session = Session::create(worker, slot, std::move(stream), Admission());  // the place stays in `from`
  session->start_sniffing(slot.config->sniff_timeout);
  auto buf = std::make_unique<std::array<uint8_t, kMaxProxyHeader>>();
  HeaderResult header = ProxyHeaderError::kNeedMore;
  size_t seen = 0;
  auto whole = [&header, &seen](std::span<const uint8_t> bytes) {
    seen = bytes.size();
    header = parse_proxy_header(bytes);
    return !header.need_more();
  };
  co_await peek_until(client, *buf, whole);
  error_code ec;
  if (header && client.try_read(asio::buffer(buf->data(), header->size), ec) != header->size)
    header = ProxyHeaderError::kNeedMore;  // the client is gone (a reset): as a truncated header
  buf.reset();
  if (!header) {
    if (header.need_more() && !client.peer_finished()) {
      session->fail(CloseReason::kSniffTimeout);  // the deadline or the drain closed it: its own reason stands
      co_return;
    }
    std::string detail;
    CloseReason why = refusal(header, seen, detail);
    warn_once(why == CloseReason::kSniffFailed ? said_missing : said_malformed, slot, why,
              detail + " from " + format_endpoint(from.source) + ", a trusted source (accept_proxy_protocol.from)");
    session->fail(why);
    co_return;
  }

  // LOCAL and UNKNOWN: the balancer's own connection. The stream keeps the place it was admitted with.
  AcceptedFrom client_from{from.source, from.original_dst, from.unix_peer, std::move(from.admission)};
  if (header->proxied) {
    client_from.source = header->source;
    client_from.original_dst = header->destination;
    if (!slot.source_rate_allows(header->source.address())) {  // the balancer's own address is not limited
      session->meta().source = header->source;  // the access-log line names the client refused
      session->meta().original_dst = header->destination;
      session->fail(CloseReason::kRateLimited);
      co_return;
    }
  }
  std::unique_ptr<Stream> handed = session->hand_over();  // no access-log line: the door writes the stream's
  session.reset();
  int released = client.release();
  handed.reset();
  co_await door(worker, slot, released, std::move(client_from));
}

}  // namespace ugate

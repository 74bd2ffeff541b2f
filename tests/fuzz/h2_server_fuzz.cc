// libFuzzer target: any bytes from a client into a server-side HTTP/2 session
// as the HBONE server runs it (the mesh port, hbone-h2c): the connection
// preface, SETTINGS and every frame after it come from the input, nothing is
// prepended. The session has the mesh's default settings, and the transport
// cuts reads unevenly and takes writes a little at a time. Each request goes
// through what the HBONE door does with it (src/doors/hbone_door.cc): the
// fields it records (forwarded, baggage, traceparent, cut to 1 KiB), the
// :authority parsed as the destination, refusals answered 405/431/501/400;
// an accepted stream gets what a session derives from it (the original client
// for a PROXY v2 header, the header fields of a next hop), is answered 200 or
// 503, and is then read and echoed like a proxied tunnel. It must never crash,
// leak, touch freed memory, or record fields that do not read back as given.
#include <boost/asio/io_context.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "base/endpoint.h"
#include "codec/proxy_protocol.h"
#include "memory_stream.h"
#include "mesh/h2_session.h"
#include "mesh/tunnel_headers.h"

namespace {
using namespace ugate;
using namespace ugate::h2;

constexpr std::string_view kRecorded[] = {"forwarded", "baggage", "traceparent"};
constexpr size_t kMaxRecordedValue = 1024;

const TcpEndpoint kPeer4{boost::asio::ip::make_address("192.0.2.7"), 40000};
const TcpEndpoint kPeer6{boost::asio::ip::make_address("2001:db8::7"), 40001};

// What a session does with a request's metadata before it dials: the client
// for the PROXY v2 header, the fields for a next hop.
void derive(const StreamMeta& m, const HostPort& dest) {
  TcpEndpoint client = original_source(m);
  std::string header = proxy_v2_header(client, TcpEndpoint{boost::asio::ip::make_address("127.0.0.1"), dest.port},
                                       "spiffe://cluster.local/ns/default/sa/fuzz");
  if (header.size() < 16 + 12 || static_cast<uint8_t>(header[14]) * 256u + static_cast<uint8_t>(header[15]) !=
                                     header.size() - 16)
    __builtin_trap();
  auto fields = tunnel_headers(m);
  // forwarded: the one the stream came with, then this hop's source.
  auto fwd = std::find_if(fields.begin(), fields.end(), [](const auto& f) { return f.first == "forwarded"; });
  if (fwd == fields.end() || !fwd->second.ends_with("for=\"" + format_endpoint(m.source) + "\"")) __builtin_trap();
  auto before = m.headers.find("forwarded");
  if (before && !fwd->second.starts_with(*before)) __builtin_trap();
}

struct Door final : H2Session::Handler {
  std::vector<std::unique_ptr<H2Stream>> tunnels;
  unsigned requests = 0;
  bool closed = false;

  void on_request(H2Session&, std::unique_ptr<H2Stream> s) override {
    std::unique_ptr<Message> req = s->take_message();
    if (!req) __builtin_trap();  // a request is handed out with its head
    StreamMeta& m = s->meta();
    m.source = ++requests % 2 ? kPeer4 : kPeer6;
    std::vector<std::pair<std::string_view, std::string_view>> kept;
    for (const auto& [name, value] : req->headers) {
      if (std::find(std::begin(kRecorded), std::end(kRecorded), name) == std::end(kRecorded)) continue;
      kept.emplace_back(name, std::string_view(value).substr(0, kMaxRecordedValue));
      m.headers.add(kept.back().first, kept.back().second);
    }
    m.headers.shrink();
    // Recorded fields read back as they came (no NUL inside a name or value may split one).
    size_t i = 0;
    m.headers.for_each([&](std::string_view name, std::string_view value) {
      if (i >= kept.size() || kept[i].first != name || kept[i].second != value) __builtin_trap();
      ++i;
    });
    if (i != kept.size()) __builtin_trap();

    std::optional<HostPort> dest;
    if (req->method == "CONNECT" && req->protocol.empty() && !req->too_large) dest = parse_host_port(req->authority);
    if (!dest) {
      int status = req->method != "CONNECT" ? 405 : req->too_large ? 431 : !req->protocol.empty() ? 501 : 400;
      s->respond(status, {{"proxy-status", "ugate; error=http_request_error"}});
      return;  // the stream ends with its owner, as the door's session finishes
    }
    if (dest->host.empty() || dest->port == 0) __builtin_trap();
    derive(m, *dest);
    if (requests % 5 == 0) {
      s->respond(503, {{"proxy-status", "ugate; error=connection_refused"}});
      return;
    }
    s->respond(200);
    tunnels.push_back(std::move(s));
  }
  void on_closed(H2Session&) override { closed = true; }
};

// An echo upstream behind each tunnel: what is read is written back; some
// tunnels end, reset or close along the way.
void proxy(std::vector<std::unique_ptr<H2Stream>>& tunnels, unsigned round) {
  char buf[1024];
  for (size_t i = 0; i < tunnels.size(); ++i) {
    H2Stream& s = *tunnels[i];
    error_code ec;
    size_t n = s.try_read(asio::buffer(buf, std::min(s.write_room(), sizeof buf)), ec);
    if (n > 0) s.try_write(asio::buffer(buf, n), ec);
    if (ec == asio::error::eof) s.shutdown_write();
    if ((i + round) % 13 == 12) s.reset();
    if ((i + round) % 17 == 16) s.close();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  asio::io_context io;
  BufferPool buffers;
  SendBudget budget(io);
  Door door;
  Timing timing{.keepalive_interval = 2, .keepalive_timeout = 1, .idle_timeout = 3, .linger = 1, .preface_timeout = 2};
  auto session = std::make_unique<H2Session>(
      H2Session::Role::kServer,
      std::make_unique<fuzz::MemoryStream>(io, std::string(reinterpret_cast<const char*>(data), size), 251, true), io,
      buffers, budget, Settings{}, timing, door);
  session->start();
  for (unsigned round = 0; round < 64 && !door.closed; ++round) {
    io.poll();
    proxy(door.tunnels, round);
    if (round % 8 == 7) session->on_tick();
  }
  door.tunnels.clear();
  if (!door.closed) session->terminate(EndReason::kClosed);
  io.poll();
  session.reset();
  io.poll();
  return 0;
}

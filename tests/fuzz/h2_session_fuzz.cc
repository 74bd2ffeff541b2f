// libFuzzer target: any bytes from a peer into an HTTP/2 session (the nghttp2
// glue, transactions and stream state). The first byte picks the role; a
// server gets the client preface prepended so the fuzzer works on frames.
// Requests are answered, read and written like the HBONE server does. It must
// never crash, leak or touch freed memory.
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "memory_stream.h"
#include "mesh/h2_session.h"

namespace {
using namespace ugate;
using namespace ugate::h2;

struct Handler final : H2Session::Handler {
  std::vector<std::unique_ptr<H2Stream>> streams;
  bool closed = false;
  void on_request(H2Session&, std::unique_ptr<H2Stream> s) override {
    const Message& m = s->message();
    s->respond(m.method == "CONNECT" && !m.too_large ? 200 : 400, {{"proxy-status", "fuzz"}});
    streams.push_back(std::move(s));
  }
  void on_closed(H2Session&) override { closed = true; }
};

// What a proxy would do with every open stream: read, write, end.
void exercise(std::vector<std::unique_ptr<H2Stream>>& streams, unsigned round) {
  char buf[512];
  for (size_t i = 0; i < streams.size(); ++i) {
    H2Stream& s = *streams[i];
    error_code ec;
    while (s.try_read(asio::buffer(buf), ec) > 0) {
    }
    s.try_write(asio::buffer(buf, (i + round) % sizeof buf), ec);
    if ((i + round) % 3 == 0) s.shutdown_write();
    if ((i + round) % 7 == 0) s.reset();
    if ((i + round) % 11 == 0) s.close();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  bool server = data[0] & 1;
  std::string input = server ? "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" : "";
  input.append(reinterpret_cast<const char*>(data) + 1, size - 1);

  asio::io_context io;
  BufferPool buffers;
  SendBudget budget(io);
  Handler handler;
  Settings settings;
  settings.stream_window = 1 << 16;  // small windows: flow control matters within short inputs
  settings.connection_window = 1 << 17;
  auto session = std::make_unique<H2Session>(server ? H2Session::Role::kServer : H2Session::Role::kClient,
                                             std::make_unique<fuzz::MemoryStream>(io, std::move(input)), io, buffers,
                                             budget, settings, Timing{1, 1, 2, 1}, handler);
  if (!server) {
    for (int i = 0; i < 3; ++i) {
      auto s = std::make_unique<H2Stream>(io, std::make_shared<StreamMeta>());
      auto p = std::make_unique<H2Stream::Pending>();
      p->authority = "127.0.0.1:" + std::to_string(8000 + i);
      s->set_pending(std::move(p));
      session->open(*s);
      handler.streams.push_back(std::move(s));
    }
  }
  session->start();
  for (unsigned round = 0; round < 64 && !handler.closed; ++round) {
    io.poll();
    exercise(handler.streams, round);
    if (round % 8 == 7) session->on_tick();
  }
  handler.streams.clear();
  if (!handler.closed) session->terminate(EndReason::kClosed);
  io.poll();
  session.reset();
  io.poll();
  return 0;
}

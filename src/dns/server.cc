#include "dns/server.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

#include "dns/upstream.h"
#include "listener/answering_connection.h"
#include "runtime/original_dst.h"
#include "runtime/spawn.h"

namespace ugate::dns {
namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr unsigned kBurst = 32;            // datagrams in a row before other work runs
constexpr size_t kMaxMessage = 65535;      // a UDP datagram's payload, and a TCP frame's
constexpr uint32_t kMaxInFlight = 1024;    // forwarded queries per worker: beyond, SERVFAIL at once

uint64_t now_seconds() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

void count_answer(WorkerDns& state, std::span<const uint8_t> answer) {
  size_t rcode = answer.size() >= kHeaderSize ? answer[3] & 0xf : kServFail;
  state.answers[std::min(rcode, kRcodeSlots)].add();
}

// A malformed query is counted always and logged once per process, so a
// flood of bad input cannot flood the log.
void note_malformed(const ListenerSlot& slot, const asio::ip::address& from, Error e, bool answered) {
  static std::atomic<bool> said{false};
  if (said.exchange(true)) return;
  spdlog::warn("listener {}: malformed DNS query from {}: {}, {} (counted in ugate_dns_queries_total{{kind=\"malformed\"}}; "
               "logged once)",
               slot.config->name, unmapped(from).to_string(), to_string(e), answered ? "answered FORMERR or NOTIMP" : "dropped");
}

// What can be answered without waiting: a malformed query, a mesh name, a
// cached answer. kForward: the query (parsed into `q`) goes upstream.
enum class Step : uint8_t { kAnswered, kDrop, kForward };

Step answer_now(DnsListener& listener, WorkerDns& state, const ListenerSlot& slot, const asio::ip::address& from,
                std::span<const uint8_t> msg, Query& q, std::vector<uint8_t>& out) {
  auto parsed = parse_query(msg);
  if (!parsed) {
    state.queries[static_cast<size_t>(QueryKind::kMalformed)].add();
    auto h = parse_header(msg);
    // An unreadable header, or a response (answering one could start a loop between two servers): dropped.
    bool answer = h && !h->qr();
    note_malformed(slot, from, parsed.error(), answer);
    if (!answer) return Step::kDrop;
    header_only_answer(out, *h, parsed.error() == Error::kNotQuery ? kNotImp : kFormErr);
    return Step::kAnswered;
  }
  q = *parsed;
  if (listener.zone->answer(msg, q, out)) {
    state.queries[static_cast<size_t>(QueryKind::kMesh)].add();
    return Step::kAnswered;
  }
  if (listener.cache.find(msg, q, now_seconds(), out)) {
    state.queries[static_cast<size_t>(QueryKind::kCached)].add();
    return Step::kAnswered;
  }
  state.queries[static_cast<size_t>(QueryKind::kForwarded)].add();
  if (listener.upstreams.empty() || state.in_flight >= kMaxInFlight) {
    start_answer(out, msg, q, kServFail, false);
    if (q.edns) add_opt(out, kOurUdpSize);
    return Step::kAnswered;
  }
  return Step::kForward;
}

// The upstream's answer (cached), or SERVFAIL, into `out`.
asio::awaitable<void> forward(asio::io_context& io, DnsListener& listener, WorkerDns& state,
                              std::span<const uint8_t> msg, const Query& q, std::vector<uint8_t>& out) {
  ++state.in_flight;
  bool ok = co_await ask_upstreams(io, listener, state, msg, q, out);
  --state.in_flight;
  if (ok) {
    auto info = parse_response(out);  // it parsed before: this reads where its TTLs are
    if (info) listener.cache.store(q, out, *info, now_seconds());
    co_return;
  }
  start_answer(out, msg, q, kServFail, false);
  if (q.edns) add_opt(out, kOurUdpSize);
}

class UdpServer final : public DatagramListener {
 public:
  UdpServer(Worker& worker, ListenerSlot& slot, DnsListener& listener, asio::ip::udp::socket socket)
      : worker_(worker), slot_(slot), listener_(listener), state_(*listener.by_worker[worker.index()]),
        socket_(std::move(socket)), in_(kMaxMessage) {
    socket_.non_blocking(true);
  }

  void start() override { spawn(worker_.context().get_executor(), receive_loop(), "listener " + slot_.config->name + ": dns"); }
  void stop() override {
    error_code ignored;
    socket_.cancel(ignored);
    stopped_ = true;
  }
  DnsListener& listener() { return listener_; }

 private:
  asio::awaitable<void> receive_loop() {
    for (;;) {
      auto [ec] = co_await socket_.async_wait(asio::ip::udp::socket::wait_read, use_nothrow);
      if (ec) co_return;  // stopped
      for (unsigned i = 0; i < kBurst; ++i) {
        asio::ip::udp::endpoint from;
        error_code rec;
        size_t n = socket_.receive_from(asio::buffer(in_), from, 0, rec);
        if (rec == asio::error::would_block) break;
        if (rec) continue;  // an ICMP error for an earlier answer
        handle(std::span<const uint8_t>(in_.data(), n), from);
      }
    }
  }

  void handle(std::span<const uint8_t> msg, const asio::ip::udp::endpoint& from) {
    slot_.stats.packets_up.add();
    Query q;
    Step step = answer_now(listener_, state_, slot_, from.address(), msg, q, out_);
    if (step == Step::kDrop) return;
    if (step == Step::kAnswered) {
      send(msg, q, from, out_);
      return;
    }
    std::vector<uint8_t> query(msg.begin(), msg.end());
    spawn(worker_.context().get_executor(), forward_udp(std::move(query), q, from), "listener " + slot_.config->name + ": dns forward");
  }

  asio::awaitable<void> forward_udp(std::vector<uint8_t> query, Query q, asio::ip::udp::endpoint to) {
    std::vector<uint8_t> answer;
    co_await forward(worker_.context(), listener_, state_, query, q, answer);
    if (!stopped_) send(query, q, to, answer);
  }

  // An answer larger than the client takes goes out truncated: it asks again over TCP. Never more
  // than the size we offer, whatever the client claims: a spoofed query must not buy a 64 KiB
  // datagram sent to its victim (amplification).
  void send(std::span<const uint8_t> query, const Query& q, const asio::ip::udp::endpoint& to, std::vector<uint8_t>& answer) {
    if (q.question_end && answer.size() > std::min<size_t>(q.udp_limit(), kOurUdpSize)) truncate_answer(answer, query, q);
    count_answer(state_, answer);
    error_code ec;
    socket_.send_to(asio::buffer(answer), to, 0, ec);
    if (!ec) slot_.stats.packets_down.add();
  }

  Worker& worker_;
  ListenerSlot& slot_;
  DnsListener& listener_;
  WorkerDns& state_;
  asio::ip::udp::socket socket_;
  std::vector<uint8_t> in_, out_;
  bool stopped_ = false;
};

}  // namespace

std::string_view to_string(QueryKind k) {
  switch (k) {
    case QueryKind::kMesh: return "mesh";
    case QueryKind::kCached: return "cached";
    case QueryKind::kForwarded: return "forwarded";
    case QueryKind::kMalformed: return "malformed";
    case QueryKind::kCount: break;
  }
  return "?";
}

std::string_view to_string(UpstreamError e) {
  switch (e) {
    case UpstreamError::kTimeout: return "timeout";
    case UpstreamError::kNetwork: return "network";
    case UpstreamError::kBadAnswer: return "bad_answer";
    case UpstreamError::kTcpRetry: return "tcp_retry";
    case UpstreamError::kCount: break;
  }
  return "?";
}

DnsListener::DnsListener(const ListenerConfig& c, const DnsConfig& d, const MeshZone& z,
                         std::vector<asio::ip::udp::endpoint> u, size_t workers)
    : config(&c), dns(&d), zone(&z), upstreams(std::move(u)), cache(d.cache_entries, d.max_cache_ttl) {
  for (size_t i = 0; i < workers; ++i) by_worker.push_back(std::make_unique<WorkerDns>());
}

std::vector<asio::ip::udp::endpoint> nameservers_of(std::string_view text) {
  std::vector<asio::ip::udp::endpoint> out;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (!line.starts_with("nameserver") || line.size() < 11 || (line[10] != ' ' && line[10] != '\t')) continue;
    line.remove_prefix(11);
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos) continue;
    line = line.substr(start, line.find_first_of(" \t\r#;", start) - start);
    error_code ec;
    auto ip = asio::ip::make_address(std::string(line.substr(0, line.find('%'))), ec);  // a scope is not kept
    if (!ec) out.emplace_back(ip, 53);
  }
  return out;
}

std::unique_ptr<DatagramListener> make_udp_server(Worker& worker, ListenerSlot& slot, DnsListener& listener,
                                                  asio::ip::udp::socket socket) {
  return std::make_unique<UdpServer>(worker, slot, listener, std::move(socket));
}

asio::awaitable<void> dns_tcp_door(Worker& worker, ListenerSlot& slot, int fd, AcceptedFrom from) {
  auto* udp = dynamic_cast<UdpServer*>(slot.datagram.get());  // the listener's UDP side holds what both share
  asio::ip::tcp::socket socket(worker.context());
  error_code ec;
  socket.assign(from.source.protocol(), fd, ec);
  if (ec || !udp) {  // (its place among max_streams is from.admission, held while this runs)
    if (!ec) socket.close(ec);
    else ::close(fd);
    co_return;
  }
  AnsweringConnection connection(worker, slot, socket, "dns");
  DnsListener& listener = udp->listener();
  WorkerDns& state = *listener.by_worker[worker.index()];
  std::vector<uint8_t> in(2 + kMaxMessage), out;
  size_t have = 0;
  for (;;) {
    size_t length = have >= 2 ? static_cast<size_t>(in[0] << 8 | in[1]) : 0;
    if (have >= 2 && have >= 2 + length) {
      std::span<const uint8_t> msg(in.data() + 2, length);
      Query q;
      Step step = answer_now(listener, state, slot, from.source.address(), msg, q, out);
      if (step == Step::kDrop) break;  // not a query: the stream cannot be trusted further
      if (step == Step::kForward) co_await forward(worker.context(), listener, state, msg, q, out);
      count_answer(state, out);
      std::vector<uint8_t> framed(2 + out.size());
      put16(framed.data(), static_cast<uint16_t>(out.size()));
      std::copy(out.begin(), out.end(), framed.begin() + 2);
      auto [wec, written] = co_await asio::async_write(socket, asio::buffer(framed), use_nothrow);
      if (wec) break;
      slot.stats.bytes_down.add(written);
      connection.touch();
      std::copy(in.begin() + static_cast<std::ptrdiff_t>(2 + length), in.begin() + static_cast<std::ptrdiff_t>(have),
                in.begin());
      have -= 2 + length;
      continue;
    }
    auto [rec, n] = co_await socket.async_read_some(asio::buffer(in.data() + have, in.size() - have), use_nothrow);
    if (rec) break;  // closed, reset, or aborted (idle, drain)
    have += n;
    slot.stats.bytes_up.add(n);
    connection.touch();
  }
  error_code ignored;
  socket.close(ignored);
}

void register_dns_metrics(MetricRegistry& r, const std::deque<DnsListener>& listeners) {
  if (listeners.empty()) return;
  auto sum = [](const DnsListener& l, auto pick) {
    uint64_t total = 0;
    for (const auto& w : l.by_worker) total += pick(*w).get();
    return total;
  };
  r.add("ugate_dns_queries_total", MetricType::kCounter,
        "DNS queries, by how they were answered: mesh names, from the cache, forwarded upstream, or malformed.",
        [&listeners, sum](MetricSamples& s) {
          for (const auto& l : listeners)
            for (size_t k = 0; k < static_cast<size_t>(QueryKind::kCount); ++k)
              s.add(label("listener", l.config->name) + "," + label("kind", to_string(static_cast<QueryKind>(k))),
                    sum(l, [k](const WorkerDns& w) -> const Counter& { return w.queries[k]; }));
        });
  r.add("ugate_dns_answers_total", MetricType::kCounter, "DNS answers sent, by rcode.",
        [&listeners, sum](MetricSamples& s) {
          static constexpr std::array<std::string_view, kRcodeSlots + 1> names{
              "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other"};
          for (const auto& l : listeners)
            for (size_t i = 0; i < names.size(); ++i)
              s.add(label("listener", l.config->name) + "," + label("rcode", names[i]),
                    sum(l, [i](const WorkerDns& w) -> const Counter& { return w.answers[i]; }));
        });
  r.add("ugate_dns_upstream_errors_total", MetricType::kCounter,
        "Attempts at an upstream resolver that failed, by reason (timeout, network, bad_answer, tcp_retry).",
        [&listeners, sum](MetricSamples& s) {
          for (const auto& l : listeners)
            for (size_t e = 0; e < static_cast<size_t>(UpstreamError::kCount); ++e)
              s.add(label("listener", l.config->name) + "," + label("reason", to_string(static_cast<UpstreamError>(e))),
                    sum(l, [e](const WorkerDns& w) -> const Counter& { return w.upstream_errors[e]; }));
        });
  r.add("ugate_dns_cache_entries", MetricType::kGauge, "Forwarded answers in the DNS cache.",
        [&listeners](MetricSamples& s) {
          for (const auto& l : listeners) s.add(label("listener", l.config->name), l.cache.size());
        });
}

}  // namespace ugate::dns

// ugate-loadgen's clients: connrate, latency, idle and throughput (with the proxies' preambles).
// See loadgen.cc.

#include "loadgen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace loadgen {

// ---- connrate ---------------------------------------------------------------------------------

// One thread, C independent slots, each a small state machine driven by edge-triggered epoll:
// nonblocking connect -> (writable) send 1 byte -> (readable) recv 1 byte -> close -> again.
// Edge-triggered so each socket costs one epoll_ctl, keeping the client cheap on a 2-core box.
int cmd_connrate(const Options& opt) {
  Endpoint target = parse_endpoint(opt.str("target"));
  long seconds = opt.num("seconds");
  long concurrency = std::max(1L, opt.num("concurrency"));

  enum class Phase { connecting, reading };
  struct Slot {
    int fd = -1;
    Phase phase = Phase::connecting;
  };
  std::vector<Slot> slots(static_cast<size_t>(concurrency));
  std::vector<size_t> restart;  // slots to (re)connect on the next loop turn
  long done = 0, failed = 0;
  std::string first_error;
  int epfd = epoll_create1(EPOLL_CLOEXEC);

  auto finish = [&](size_t i, bool ok) {
    if (ok) {
      ++done;
    } else {
      if (first_error.empty()) first_error = errno ? std::strerror(errno) : "connection closed early";
      ++failed;
    }
    close(slots[i].fd);
    slots[i].fd = -1;
    restart.push_back(i);
  };
  auto start = [&](size_t i) {
    Slot& s = slots[i];
    s.phase = Phase::connecting;
    s.fd = socket(target.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.fd < 0) die_errno("socket");
    set_nodelay(s.fd);
    epoll_event e{EPOLLIN | EPOLLOUT | EPOLLET, {.u64 = i}};
    epoll_ctl(epfd, EPOLL_CTL_ADD, s.fd, &e);
    errno = 0;
    int rc = connect(s.fd, reinterpret_cast<const sockaddr*>(&target.addr), target.len);
    if (rc != 0 && errno != EINPROGRESS) finish(i, false);
  };
  auto step = [&](size_t i, uint32_t ev) {
    Slot& s = slots[i];
    errno = 0;
    if (s.phase == Phase::connecting) {
      if (ev & (EPOLLERR | EPOLLHUP)) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        errno = err;
        return finish(i, false);
      }
      if (!(ev & EPOLLOUT)) return;
      if (send(s.fd, "x", 1, MSG_NOSIGNAL) != 1) return finish(i, false);
      s.phase = Phase::reading;  // the echo arrives later as a fresh EPOLLIN edge
      return;
    }
    if (!(ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;  // e.g. a late EPOLLOUT edge
    char c;
    ssize_t r = recv(s.fd, &c, 1, 0);
    if (r < 0 && errno == EAGAIN) return;
    finish(i, r == 1);
  };

  auto t0 = Clock::now();
  auto deadline = t0 + std::chrono::seconds(seconds);
  for (size_t i = 0; i < slots.size(); ++i) start(i);
  std::vector<epoll_event> events(slots.size());
  while (Clock::now() < deadline) {
    std::vector<size_t> again;
    again.swap(restart);
    for (size_t i : again) start(i);
    int n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()), restart.empty() ? 50 : 0);
    for (int k = 0; k < n; ++k) step(events[k].data.u64, events[k].events);
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("{\"test\":\"connrate\",\"connections\":%ld,\"errors\":%ld,\"seconds\":%.3f,"
              "\"concurrency\":%ld,\"rate\":%.1f,\"first_error\":\"%s\"}\n",
              done, failed, elapsed, concurrency, done / elapsed, first_error.c_str());
  return 0;
}

// ---- latency ----------------------------------------------------------------------------------

int cmd_latency(const Options& opt) {
  Endpoint target = parse_endpoint(opt.str("target"));
  long count = std::max(1L, opt.num("count"));
  long size = std::max(1L, opt.num("size", 1024));
  long warmup = opt.num("warmup", 100);

  int fd = connect_blocking(target);
  if (fd < 0) die_errno("connect " + opt.str("target"));
  std::vector<char> out(static_cast<size_t>(size), 'x'), in(static_cast<size_t>(size));
  std::vector<double> us;
  us.reserve(static_cast<size_t>(count));
  for (long i = 0; i < warmup + count; ++i) {
    auto t0 = Clock::now();
    if (!send_all(fd, out.data(), out.size()) || !recv_all(fd, in.data(), in.size())) {
      die_errno("round trip " + std::to_string(i));
    }
    auto t1 = Clock::now();
    if (i >= warmup) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  close(fd);
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) {  // nearest-rank percentile
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(us.size())));
    return us[std::max<size_t>(rank, 1) - 1];
  };
  std::printf("{\"test\":\"latency\",\"count\":%ld,\"size\":%ld,\"p50_us\":%.1f,\"p90_us\":%.1f,"
              "\"p99_us\":%.1f,\"max_us\":%.1f}\n",
              count, size, pct(50), pct(90), pct(99), us.back());
  return 0;
}

// ---- idle -------------------------------------------------------------------------------------

// Connections are opened one after another: the round trip proves the proxy has dialled upstream,
// and a sequential open never overflows a listen backlog.
int cmd_idle(const Options& opt) {
  Endpoint target = parse_endpoint(opt.str("target"));
  long count = opt.num("count");
  std::string hold_file = opt.str("hold-file", "");

  // Block the stop signals before anything else so none is lost; signalfd collects them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  int sfd = signalfd(-1, &stop, SFD_CLOEXEC);

  std::vector<int> fds;
  fds.reserve(static_cast<size_t>(count));
  std::string error;
  for (long i = 0; i < count; ++i) {
    char c = 'x';
    int fd = connect_blocking(target);
    if (fd < 0 || !send_all(fd, &c, 1) || !recv_all(fd, &c, 1)) {
      error = "connection " + std::to_string(i) + ": " + (errno ? std::strerror(errno) : "closed");
      if (fd >= 0) close(fd);
      break;  // most likely a limit was hit; more attempts would only add timeouts
    }
    fds.push_back(fd);
  }
  std::printf("{\"test\":\"idle\",\"requested\":%ld,\"open\":%zu,\"error\":\"%s\"}\n", count, fds.size(),
              error.c_str());
  std::fflush(stdout);
  if (hold_file.empty()) {
    std::printf("ready\n");
    std::fflush(stdout);
  } else {
    FILE* f = std::fopen(hold_file.c_str(), "w");
    if (!f) die_errno("open " + hold_file);
    std::fputs("ready\n", f);
    std::fclose(f);
  }

  // Hold until a stop signal, or until stdin closes when stdin is a pipe or terminal
  // (not /dev/null, which would end the hold at once).
  struct stat st{};
  bool watch_stdin = fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || isatty(0));
  pollfd pfds[2] = {{sfd, POLLIN, 0}, {0, POLLIN, 0}};
  for (;;) {
    if (poll(pfds, watch_stdin ? 2 : 1, -1) < 0 && errno != EINTR) die_errno("poll");
    if (pfds[0].revents) break;
    if (watch_stdin && pfds[1].revents) {
      char buf[256];
      if (read(0, buf, sizeof buf) <= 0) break;
    }
  }
  for (int fd : fds) close(fd);
  return error.empty() ? 0 : 1;
}

// ---- throughput -------------------------------------------------------------------------------

namespace {

void put16(std::string& s, size_t v) {
  s += static_cast<char>((v >> 8) & 0xff);
  s += static_cast<char>(v & 0xff);
}

// A minimal, well-formed TLS 1.2-style ClientHello with one cipher suite and a server_name: what
// SNI routers (ugate tls-sni, HAProxy req.ssl_sni, nginx ssl_preread) read before they connect.
std::string client_hello(const std::string& sni) {
  std::string names;
  names += '\0';  // host_name
  put16(names, sni.size());
  names += sni;
  std::string server_name;
  put16(server_name, names.size());
  server_name += names;
  std::string extensions;
  put16(extensions, 0);  // server_name
  put16(extensions, server_name.size());
  extensions += server_name;
  std::string body = "\x03\x03" + std::string(32, '\x5a');  // legacy_version, random
  body += '\0';                                             // no session id
  put16(body, 2);
  body += "\x13\x01";  // TLS_AES_128_GCM_SHA256
  body += "\x01";
  body += '\0';  // null compression
  put16(body, extensions.size());
  body += extensions;
  std::string handshake = "\x01";
  handshake += '\0';
  put16(handshake, body.size());
  handshake += body;
  std::string record = "\x16\x03\x01";
  put16(record, handshake.size());
  return record + handshake;
}

// The proxy's handshake; dies with what went wrong, since a failed preamble is a failed run.
void preamble(int fd, const std::string& via, const Options& opt) {
  if (via == "none") return;
  if (via == "tls") {
    std::string hello = client_hello(opt.str("sni"));
    if (!send_all(fd, hello.data(), hello.size())) die_errno("sending the ClientHello");
    return;
  }
  std::string dest = opt.str("dest");
  if (via == "connect") {
    std::string req = http_connect_request(dest);
    if (!send_all(fd, req.data(), req.size())) die_errno("sending CONNECT");
    std::string answer;
    char c;
    while (answer.size() < 8192 && answer.find("\r\n\r\n") == std::string::npos) {
      if (!recv_all(fd, &c, 1)) die_errno("reading the CONNECT answer");
      answer += c;
    }
    if (answer.compare(0, 12, "HTTP/1.1 200") != 0 && answer.compare(0, 12, "HTTP/1.0 200") != 0)
      die("CONNECT refused: " + answer.substr(0, answer.find('\r')));
    return;
  }
  if (via != "socks5") die("--via must be none, socks5, connect or tls");
  std::string req = "\x05\x01";
  req += '\0';  // greeting: no authentication
  char reply[22];
  if (!send_all(fd, req.data(), req.size()) || !recv_all(fd, reply, 2) || reply[1] != 0)
    die("SOCKS5 greeting refused");
  req = socks5_connect_request(parse_endpoint(dest));
  if (!send_all(fd, req.data(), req.size()) || !recv_all(fd, reply, 4)) die_errno("SOCKS5 request");
  if (reply[1] != 0) die("SOCKS5 CONNECT refused with reply " + std::to_string(reply[1]));
  size_t rest = reply[3] == 1 ? 6 : reply[3] == 4 ? 18 : 0;
  if (rest == 0 || !recv_all(fd, reply, rest)) die("SOCKS5 reply with an unexpected address type");
}

}  // namespace

int cmd_throughput(const Options& opt) {
  Endpoint target = parse_endpoint(opt.str("target"));
  long seconds = std::max(1L, opt.num("seconds"));
  std::string via = opt.str("via", "none"), direction = opt.str("direction", "down");
  if (direction != "down" && direction != "up") die("--direction must be down or up");
  int fd = socket(target.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die_errno("socket");
  set_io_timeout(fd, 10);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&target.addr), target.len) != 0)
    die_errno("connect " + opt.str("target"));
  preamble(fd, via, opt);
  char mode = direction == "down" ? 'D' : 'U';
  if (!send_all(fd, &mode, 1)) die_errno("sending the mode");
  std::vector<char> buf(kThroughputChunk, 'x');
  uint64_t bytes = 0;
  Clock::time_point start{}, end{};
  if (direction == "down") {
    // Counted as received (exact); the clock starts with the first byte, so the proxy's set-up
    // is not in the rate.
    for (;;) {
      ssize_t r = recv(fd, buf.data(), buf.size(), 0);
      if (r <= 0) die(r == 0 ? "the sink or the proxy closed the connection" : std::string("recv: ") + std::strerror(errno));
      end = Clock::now();
      if (bytes == 0) start = end;
      bytes += static_cast<uint64_t>(r);
      if (end - start >= std::chrono::seconds(seconds)) break;
    }
  } else {
    start = Clock::now();
    while ((end = Clock::now()) - start < std::chrono::seconds(seconds)) {
      ssize_t w = send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
      if (w <= 0) die_errno("send");
      bytes += static_cast<uint64_t>(w);  // counted as sent: socket buffers hold a few MB of it
    }
  }
  close(fd);
  double elapsed = std::chrono::duration<double>(end - start).count();
  std::printf("{\"test\":\"throughput\",\"via\":\"%s\",\"direction\":\"%s\",\"bytes\":%llu,"
              "\"seconds\":%.3f,\"gbit_per_s\":%.3f}\n",
              via.c_str(), direction.c_str(), static_cast<unsigned long long>(bytes), elapsed,
              elapsed > 0 ? static_cast<double>(bytes) * 8 / elapsed / 1e9 : 0.0);
  return 0;
}

}  // namespace loadgen

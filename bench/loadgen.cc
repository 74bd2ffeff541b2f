// ugate-loadgen: the load generator, echo server and throughput sink behind bench/bench.py.
//
// Every contender (direct, ugate, HAProxy, socat, the SOCKS5/CONNECT/SNI proxies) is driven by
// this one client, so differences come from the proxy and not from the tool. Linux only (epoll,
// signalfd); no dependencies.
//
//   echo     --listen HOST:PORT                          echo server; prints {"port":N} when bound
//   connrate --target HOST:PORT --seconds S --concurrency C
//                                                        C slots loop connect, 1-byte round trip,
//                                                        close; prints connections per second
//   latency  --target HOST:PORT --count N --size B [--warmup W]
//                                                        N round trips of B bytes on one connection;
//                                                        prints p50/p90/p99/max in microseconds
//   idle     --target HOST:PORT --count N [--hold-file F]
//                                                        opens N connections, one round trip each,
//                                                        writes "ready" to F (or stdout) and holds
//                                                        them until SIGTERM/SIGINT or stdin closes
//   sink     --listen HOST:PORT                          throughput peer; prints {"port":N} when bound; per
//                                                        connection: skips a leading TLS record (a ClientHello
//                                                        the SNI proxies passed on), then reads one byte: 'D'
//                                                        streams bytes to the client until it leaves, 'U'
//                                                        discards what the client sends
//   throughput --target HOST:PORT --seconds S [--via none|socks5|connect|tls] [--dest HOST:PORT]
//              [--sni NAME] [--direction down|up]
//                                                        one connection through the proxy at target: the
//                                                        preamble (SOCKS5 CONNECT, HTTP CONNECT, or a
//                                                        ClientHello naming --sni), then S seconds of bytes
//                                                        from the sink (down, counted as received) or to it
//                                                        (up, counted as sent); prints Gbit/s
//   relay    --listen HOST:PORT --target HOST:PORT [--threads N]
//                                                        the floor of a TCP proxy: accept, dial the target,
//                                                        move bytes both ways (half-close passed on), close;
//                                                        nothing else (no timeouts, limits, logs or metrics).
//                                                        Prints {"port":N} when bound. N threads, each with its
//                                                        own SO_REUSEPORT listener and epoll set
//
// Results are one JSON line on stdout; diagnostics go to stderr; exit status 1 on failure.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "ugate-loadgen: %s\n", what.c_str());
  std::exit(1);
}

[[noreturn]] void die_errno(const std::string& what) { die(what + ": " + std::strerror(errno)); }

// --key value pairs after the subcommand.
class Options {
 public:
  Options(int argc, char** argv) {
    for (int i = 2; i < argc; i += 2) {
      std::string key = argv[i];
      if (key.rfind("--", 0) != 0 || i + 1 >= argc) die("expected --option value, got " + key);
      values_[key.substr(2)] = argv[i + 1];
    }
  }
  std::string str(const std::string& key) const {
    auto it = values_.find(key);
    if (it == values_.end()) die("missing --" + key);
    return it->second;
  }
  std::string str(const std::string& key, const std::string& fallback) const {
    return values_.count(key) ? values_.at(key) : fallback;
  }
  long num(const std::string& key) const { return parse(key, str(key)); }
  long num(const std::string& key, long fallback) const {
    return values_.count(key) ? parse(key, values_.at(key)) : fallback;
  }

 private:
  static long parse(const std::string& key, const std::string& text) {
    char* end = nullptr;
    long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v < 0) die("--" + key + " needs a non-negative integer");
    return v;
  }
  std::map<std::string, std::string> values_;
};

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// "127.0.0.1:8080" or "[::1]:8080"; numeric hosts only (no DNS in a benchmark).
Endpoint parse_endpoint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) die("bad address (want HOST:PORT): " + text);
  std::string host = text.substr(0, colon), port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    die("bad address " + text + ": " + gai_strerror(rc));
  }
  Endpoint ep;
  std::memcpy(&ep.addr, res->ai_addr, res->ai_addrlen);
  ep.len = res->ai_addrlen;
  freeaddrinfo(res);
  return ep;
}

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// A stuck proxy must fail the run rather than hang it.
void set_io_timeout(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// Blocking connect with TCP_NODELAY and I/O timeouts; -1 on failure (errno set).
int connect_blocking(const Endpoint& target) {
  int fd = socket(target.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  set_nodelay(fd);
  set_io_timeout(fd, 5);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&target.addr), target.len) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

bool send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool recv_all(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// ---- echo -------------------------------------------------------------------------------------

// Level-triggered epoll. A connection whose peer does not read fast enough keeps its unsent
// bytes and stops being read until they are gone (backpressure, bounded memory).
// The listening socket of a server subcommand (--listen), announced as {"port":N} on stdout.
// A listening socket on ep with the socket option `reuse` (SO_REUSEADDR or SO_REUSEPORT) set;
// ep becomes the address it is bound to (for port 0, the port the kernel chose).
int listening_socket(Endpoint& ep, int flags, int reuse) {
  int lfd = socket(ep.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
  if (lfd < 0) die_errno("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, reuse, &one, sizeof one);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&ep.addr), ep.len) != 0) die_errno("bind");
  if (listen(lfd, 4096) != 0) die_errno("listen");
  socklen_t len = sizeof ep.addr;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&ep.addr), &len);
  return lfd;
}

void announce_port(const Endpoint& ep) {
  int port = ntohs(ep.addr.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&ep.addr)->sin6_port
                                                 : reinterpret_cast<const sockaddr_in*>(&ep.addr)->sin_port);
  std::printf("{\"port\":%d}\n", port);
  std::fflush(stdout);
}

int listen_and_announce(const Options& opt, int flags) {
  Endpoint ep = parse_endpoint(opt.str("listen"));
  int lfd = listening_socket(ep, flags, SO_REUSEADDR);
  announce_port(ep);
  return lfd;
}

int cmd_echo(const Options& opt) {
  int lfd = listen_and_announce(opt, SOCK_NONBLOCK);

  int epfd = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{EPOLLIN, {.fd = lfd}};
  epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);

  std::vector<std::string> pending;  // unsent bytes, indexed by fd
  std::vector<char> buf(64 * 1024);
  std::vector<epoll_event> events(1024);
  auto watch = [&](int fd, uint32_t what) {
    epoll_event e{what, {.fd = fd}};
    epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &e);
  };
  auto drop = [&](int fd) {
    pending[fd].clear();
    pending[fd].shrink_to_fit();
    close(fd);  // also removes it from the epoll set
  };
  for (;;) {
    int n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0 && errno != EINTR) die_errno("epoll_wait");
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) perror("ugate-loadgen: accept");
            break;
          }
          set_nodelay(c);
          if (static_cast<size_t>(c) >= pending.size()) pending.resize(c + 1024);
          epoll_event e{EPOLLIN, {.fd = c}};
          epoll_ctl(epfd, EPOLL_CTL_ADD, c, &e);
        }
        continue;
      }
      std::string& out = pending[fd];
      if (!out.empty()) {  // waiting for EPOLLOUT
        ssize_t w = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) { drop(fd); continue; }
        if (w > 0) out.erase(0, static_cast<size_t>(w));
        if (out.empty()) watch(fd, EPOLLIN);
        continue;
      }
      ssize_t r = recv(fd, buf.data(), buf.size(), 0);
      if (r == 0 || (r < 0 && errno != EAGAIN)) { drop(fd); continue; }
      if (r < 0) continue;
      ssize_t w = send(fd, buf.data(), static_cast<size_t>(r), MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) { drop(fd); continue; }
      if (w < r) {
        out.assign(buf.data() + std::max<ssize_t>(w, 0), buf.data() + r);
        watch(fd, EPOLLOUT);
      }
    }
  }
}

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

// ---- sink / throughput ------------------------------------------------------------------------

constexpr size_t kThroughputChunk = 256 * 1024;

// One thread per connection: a throughput test has one or two, and blocking I/O keeps it plain.
void sink_connection(int fd) {
  char head[5];
  bool ok = recv_all(fd, head, 1);
  if (ok && head[0] == 0x16 && recv_all(fd, head + 1, 4)) {  // a TLS record: skip its body
    std::vector<char> skip((static_cast<uint8_t>(head[3]) << 8) | static_cast<uint8_t>(head[4]));
    ok = recv_all(fd, skip.data(), skip.size()) && recv_all(fd, head, 1);
  }
  std::vector<char> buf(kThroughputChunk, 'x');
  if (ok && head[0] == 'D') {
    while (send_all(fd, buf.data(), buf.size())) {
    }
  } else if (ok && head[0] == 'U') {
    while (recv(fd, buf.data(), buf.size(), 0) > 0) {
    }
  }
  close(fd);
}

int cmd_sink(const Options& opt) {
  int lfd = listen_and_announce(opt, 0);
  for (;;) {
    int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != ECONNABORTED) die_errno("accept");
      continue;
    }
    set_io_timeout(fd, 10);  // a client that vanished must not pin a thread forever
    std::thread(sink_connection, fd).detach();
  }
}

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
    std::string req = "CONNECT " + dest + " HTTP/1.1\r\nHost: " + dest + "\r\n\r\n";
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
  Endpoint to = parse_endpoint(dest);
  std::string req = "\x05\x01";
  req += '\0';  // greeting: no authentication
  char reply[22];
  if (!send_all(fd, req.data(), req.size()) || !recv_all(fd, reply, 2) || reply[1] != 0)
    die("SOCKS5 greeting refused");
  req = "\x05\x01";
  req += '\0';
  if (to.addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&to.addr);
    req += '\x01';
    req.append(reinterpret_cast<const char*>(&in->sin_addr), 4);
    req.append(reinterpret_cast<const char*>(&in->sin_port), 2);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&to.addr);
    req += '\x04';
    req.append(reinterpret_cast<const char*>(&in6->sin6_addr), 16);
    req.append(reinterpret_cast<const char*>(&in6->sin6_port), 2);
  }
  if (!send_all(fd, req.data(), req.size()) || !recv_all(fd, reply, 4)) die_errno("SOCKS5 request");
  if (reply[1] != 0) die("SOCKS5 CONNECT refused with reply " + std::to_string(reply[1]));
  size_t rest = reply[3] == 1 ? 6 : reply[3] == 4 ? 18 : 0;
  if (rest == 0 || !recv_all(fd, reply, rest)) die("SOCKS5 reply with an unexpected address type");
}

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

// ---- relay ------------------------------------------------------------------------------------

// What every TCP proxy has to do per connection, and nothing more, so that a benchmark can tell
// how far a proxy is from the floor the kernel sets: accept4, socket + connect, recv/send each
// way, shutdown on EOF, two closes, two epoll registrations (edge-triggered, never modified).
class Relay {
 public:
  Relay(int lfd, Endpoint target) : lfd_(lfd), target_(target), epfd_(epoll_create1(EPOLL_CLOEXEC)) {
    if (epfd_ < 0) die_errno("epoll_create1");
    epoll_event ev{EPOLLIN | EPOLLET, {.ptr = nullptr}};
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, lfd_, &ev) != 0) die_errno("epoll_ctl");
  }

  [[noreturn]] void run() {
    std::vector<epoll_event> events(512);
    for (;;) {
      int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), -1);
      if (n < 0 && errno != EINTR) die_errno("epoll_wait");
      for (int i = 0; i < n; ++i) {
        auto* side = static_cast<Side*>(events[i].data.ptr);
        if (!side) accept_all();
        else if (!side->pair->closed) on_event(*side);
      }
      for (Pair* p : closed_) delete p;  // after the batch: its other side may be in it too
      closed_.clear();
    }
  }

 private:
  struct Pair;
  struct Side {
    Pair* pair;
    int fd;
    bool eof = false;     // read EOF from fd
    std::string pending;  // bytes for fd that it did not take yet
  };
  struct Pair {
    Side s[2];  // 0: the client, 1: the upstream
    bool closed = false;
  };

  void accept_all() {
    for (;;) {
      int c = accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) return;  // EAGAIN, or an error to try again on the next connection
      int u = socket(target_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (u < 0) {
        close(c);
        continue;
      }
      set_nodelay(u);
      if (connect(u, reinterpret_cast<const sockaddr*>(&target_.addr), target_.len) != 0 && errno != EINPROGRESS) {
        close(u);
        close(c);
        continue;
      }
      auto* p = new Pair{{{nullptr, c}, {nullptr, u}}};
      for (Side& side : p->s) {
        side.pair = p;
        epoll_event ev{EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, {.ptr = &side}};
        epoll_ctl(epfd_, EPOLL_CTL_ADD, side.fd, &ev);
      }
    }
  }

  static Side& other(Side& s) { return &s == &s.pair->s[0] ? s.pair->s[1] : s.pair->s[0]; }

  void on_event(Side& s) {
    Pair* p = s.pair;
    // s may take bytes again: flush what waited for it, then carry on reading its peer.
    if (!flush(s) || !pump(other(s), s) || !pump(s, other(s))) return destroy(p);
    if (p->s[0].eof && p->s[1].eof && p->s[0].pending.empty() && p->s[1].pending.empty()) destroy(p);
  }

  // Sends to.pending; false on a broken connection. (pump reads nothing while bytes wait for
  // `to`, so an EOF, and the shutdown it passes on, never comes before them.)
  static bool flush(Side& to) {
    if (to.pending.empty()) return true;
    ssize_t w = send(to.fd, to.pending.data(), to.pending.size(), MSG_NOSIGNAL);
    if (w < 0) return errno == EAGAIN;
    to.pending.erase(0, static_cast<size_t>(w));
    return true;
  }

  // Moves what `from` has to `to` until from is empty or to is full; false on a broken connection.
  bool pump(Side& from, Side& to) {
    while (!from.eof && to.pending.empty()) {
      ssize_t r = recv(from.fd, buf_, sizeof buf_, 0);
      if (r < 0) return errno == EAGAIN;
      if (r == 0) {
        from.eof = true;
        shutdown(to.fd, SHUT_WR);
        return true;
      }
      ssize_t w = send(to.fd, buf_, static_cast<size_t>(r), MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) return false;
      if (w < r) to.pending.assign(buf_ + std::max<ssize_t>(w, 0), buf_ + r);
    }
    return true;
  }

  void destroy(Pair* p) {
    close(p->s[0].fd);  // also leaves the epoll set
    close(p->s[1].fd);
    p->closed = true;
    closed_.push_back(p);
  }

  int lfd_;
  Endpoint target_;
  int epfd_;
  std::vector<Pair*> closed_;
  char buf_[64 * 1024];
};

int cmd_relay(const Options& opt) {
  Endpoint target = parse_endpoint(opt.str("target"));
  Endpoint ep = parse_endpoint(opt.str("listen"));
  long threads = std::max(1L, opt.num("threads", 1));
  std::vector<int> listeners;
  // The first binds (port 0: any), the others share its port.
  for (long i = 0; i < threads; ++i) listeners.push_back(listening_socket(ep, SOCK_NONBLOCK, SO_REUSEPORT));
  announce_port(ep);
  for (size_t i = 1; i < listeners.size(); ++i) {
    std::thread([lfd = listeners[i], target] { Relay(lfd, target).run(); }).detach();
  }
  Relay(listeners[0], target).run();
}

void usage() {
  std::fputs(
      "usage: ugate-loadgen echo --listen HOST:PORT\n"
      "       ugate-loadgen connrate --target HOST:PORT --seconds S --concurrency C\n"
      "       ugate-loadgen latency --target HOST:PORT --count N [--size BYTES] [--warmup N]\n"
      "       ugate-loadgen idle --target HOST:PORT --count N [--hold-file FILE]\n"
      "       ugate-loadgen sink --listen HOST:PORT\n"
      "       ugate-loadgen relay --listen HOST:PORT --target HOST:PORT [--threads N]\n"
      "       ugate-loadgen throughput --target HOST:PORT --seconds S [--via none|socks5|connect|tls]\n"
      "                     [--dest HOST:PORT] [--sni NAME] [--direction down|up]\n",
      stderr);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  // Idle tests hold thousands of sockets: take the whole hard limit for open files.
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  signal(SIGPIPE, SIG_IGN);
  std::string cmd = argv[1];
  Options opt(argc, argv);
  if (cmd == "echo") return cmd_echo(opt);
  if (cmd == "connrate") return cmd_connrate(opt);
  if (cmd == "latency") return cmd_latency(opt);
  if (cmd == "idle") return cmd_idle(opt);
  if (cmd == "sink") return cmd_sink(opt);
  if (cmd == "throughput") return cmd_throughput(opt);
  if (cmd == "relay") return cmd_relay(opt);
  usage();
}

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
//   soak     --target HOST:PORT --count N --seconds S [--via none|socks5|connect] [--dest HOST:PORT]
//            [--interval-ms I] [--lifetime-s L] [--open-rate R] [--size B]
//                                                        holds N streams through the proxy for S seconds:
//                                                        each sends B bytes to the echo server every ~I ms
//                                                        (jittered) and checks what comes back, and after
//                                                        ~L s (0.5-1.5 L) closes and is opened again; opens
//                                                        paced at R per second. Prints round trips, streams
//                                                        opened and ended, and errors (any failure)
//
// Results are one JSON line on stdout; diagnostics go to stderr; exit status 1 on failure.
//
// The code: loadgen.h (shared declarations), this file (main, addresses, socket helpers),
// loadgen_client.cc, loadgen_server.cc, loadgen_relay.cc and loadgen_soak.cc (the subcommands, by role).

#include "loadgen.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace loadgen {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "ugate-loadgen: %s\n", what.c_str());
  std::exit(1);
}

[[noreturn]] void die_errno(const std::string& what) { die(what + ": " + std::strerror(errno)); }

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

void set_io_timeout(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

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

std::string socks5_connect_request(const Endpoint& to) {
  std::string req("\x05\x01\x00", 3);
  if (to.addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&to.addr);
    req += '\x01';
    req.append(reinterpret_cast<const char*>(&in->sin_addr), 4);
    req.append(reinterpret_cast<const char*>(&in->sin_port), 2);
  } else {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&to.addr);
    req += '\x04';
    req.append(reinterpret_cast<const char*>(&in6->sin6_addr), 16);
    req.append(reinterpret_cast<const char*>(&in6->sin6_port), 2);
  }
  return req;
}

std::string http_connect_request(const std::string& dest) {
  return "CONNECT " + dest + " HTTP/1.1\r\nHost: " + dest + "\r\n\r\n";
}

int listen_and_announce(const Options& opt, int flags) {
  Endpoint ep = parse_endpoint(opt.str("listen"));
  int lfd = listening_socket(ep, flags, SO_REUSEADDR);
  announce_port(ep);
  return lfd;
}

}  // namespace loadgen

namespace {

void usage() {
  std::fputs(
      "usage: ugate-loadgen echo --listen HOST:PORT\n"
      "       ugate-loadgen connrate --target HOST:PORT --seconds S --concurrency C\n"
      "       ugate-loadgen latency --target HOST:PORT --count N [--size BYTES] [--warmup N]\n"
      "       ugate-loadgen idle --target HOST:PORT --count N [--hold-file FILE]\n"
      "       ugate-loadgen sink --listen HOST:PORT\n"
      "       ugate-loadgen relay --listen HOST:PORT --target HOST:PORT [--threads N]\n"
      "       ugate-loadgen throughput --target HOST:PORT --seconds S [--via none|socks5|connect|tls]\n"
      "                     [--dest HOST:PORT] [--sni NAME] [--direction down|up]\n"
      "       ugate-loadgen soak --target HOST:PORT --count N --seconds S [--via none|socks5|connect]\n"
      "                     [--dest HOST:PORT] [--interval-ms I] [--lifetime-s L] [--open-rate R] [--size B]\n",
      stderr);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace loadgen;
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
  if (cmd == "soak") return cmd_soak(opt);
  usage();
}

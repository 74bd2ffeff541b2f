// ugate-loadgen's shared part: the command line, addresses, socket helpers, and one entry point per
// subcommand. The subcommands live by role: loadgen.cc (main and these helpers),
// loadgen_client.cc (connrate, latency, idle, throughput), loadgen_server.cc (echo, sink),
// loadgen_relay.cc (relay) and loadgen_soak.cc (soak). See loadgen.cc for what each subcommand does.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <map>
#include <string>

namespace loadgen {

using Clock = std::chrono::steady_clock;

// Writes "ugate-loadgen: WHAT" (and, for die_errno, strerror(errno)) to stderr and exits 1.
[[noreturn]] void die(const std::string& what);
[[noreturn]] void die_errno(const std::string& what);

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
Endpoint parse_endpoint(const std::string& text);

void set_nodelay(int fd);
// A stuck proxy must fail the run rather than hang it.
void set_io_timeout(int fd, int seconds);
// Blocking connect with TCP_NODELAY and I/O timeouts; -1 on failure (errno set).
int connect_blocking(const Endpoint& target);
// The whole buffer, blocking; false on an error or EOF.
bool send_all(int fd, const char* p, size_t n);
bool recv_all(int fd, char* p, size_t n);

// A listening socket on ep with the socket option `reuse` (SO_REUSEADDR or SO_REUSEPORT) set;
// ep becomes the address it is bound to (for port 0, the port the kernel chose).
int listening_socket(Endpoint& ep, int flags, int reuse);
// {"port":N} on stdout: how a server subcommand tells bench.py where it listens.
void announce_port(const Endpoint& ep);
// The listening socket of a server subcommand (--listen), announced as {"port":N} on stdout.
int listen_and_announce(const Options& opt, int flags);

// The proxies' requests: SOCKS5 CONNECT to `to` (what follows the greeting), HTTP CONNECT to `dest`.
std::string socks5_connect_request(const Endpoint& to);
std::string http_connect_request(const std::string& dest);

// What the sink writes per send(2) and the throughput client reads per recv(2).
constexpr size_t kThroughputChunk = 256 * 1024;

int cmd_echo(const Options& opt);        // loadgen_server.cc
int cmd_sink(const Options& opt);        // loadgen_server.cc
int cmd_connrate(const Options& opt);    // loadgen_client.cc
int cmd_latency(const Options& opt);     // loadgen_client.cc
int cmd_idle(const Options& opt);        // loadgen_client.cc
int cmd_throughput(const Options& opt);  // loadgen_client.cc
int cmd_relay(const Options& opt);       // loadgen_relay.cc
int cmd_soak(const Options& opt);        // loadgen_soak.cc

}  // namespace loadgen

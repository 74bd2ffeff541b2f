// ugate-loadgen soak: many streams held open at once through a proxy for a long time, each one
// busy now and then and replaced when its lifetime ends. See loadgen.cc for the options.
//
// One thread, edge-triggered epoll, a state machine per slot: connect -> the proxy's handshake
// (SOCKS5 or HTTP CONNECT; none for a tcp forward) -> open: every ~interval a message of `size`
// bytes naming the slot and its sequence number, which the echo server must send back exactly ->
// at the end of its lifetime the slot closes and opens again. Opens are paced (--open-rate per
// second, at most 256 handshakes at once) so that a ramp of thousands never overflows a backlog.
// Any failure (refused, reset, early EOF, a wrong echo, a handshake or echo slower than 10 s) is an
// error: counted, the first one kept, and the slot opens again.

#include "loadgen.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <queue>
#include <random>
#include <string>
#include <vector>

namespace loadgen {
namespace {

using Ms = std::chrono::milliseconds;
constexpr auto kDeadline = std::chrono::seconds(10);  // for a handshake step or an echo
constexpr size_t kMaxHandshakes = 256;

enum class Phase { idle, connecting, greeting, request, open, echo };

struct Slot {
  int fd = -1;
  Phase phase = Phase::idle;
  uint64_t generation = 0;  // of the slot's one live timer: any earlier one is stale
  uint64_t seq = 0;
  std::string in, out;      // bytes read so far for the current step; bytes not yet written
  std::string expect;       // the echo awaited
  Clock::time_point ends{}; // the end of this life
};

struct Timer {
  Clock::time_point due;
  size_t slot;
  uint64_t generation;
  bool operator>(const Timer& o) const { return due > o.due; }
};

class Soak {
 public:
  explicit Soak(const Options& opt)
      : target_(parse_endpoint(opt.str("target"))),
        via_(opt.str("via", "none")),
        count_(static_cast<size_t>(std::max(1L, opt.num("count")))),
        seconds_(opt.num("seconds")),
        interval_(Ms(std::max(1L, opt.num("interval-ms", 5000)))),
        lifetime_(Ms(std::max(1000L, opt.num("lifetime-s", 60) * 1000))),
        open_rate_(std::max(1L, opt.num("open-rate", 2000))),
        size_(static_cast<size_t>(std::max(16L, opt.num("size", 64)))),
        slots_(count_),
        rng_(std::random_device{}()) {
    if (via_ != "none" && via_ != "socks5" && via_ != "connect") die("--via must be none, socks5 or connect");
    if (via_ != "none") {
      std::string dest = opt.str("dest");
      socks_request_ = via_ == "socks5" ? socks5_connect_request(parse_endpoint(dest)) : "";
      connect_request_ = via_ == "connect" ? http_connect_request(dest) : "";
    }
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) die_errno("epoll_create1");
  }

  int run() {
    auto t0 = Clock::now();
    auto stop = t0 + std::chrono::seconds(seconds_);
    for (size_t i = 0; i < count_; ++i) waiting_.push(i);
    std::vector<epoll_event> events(1024);
    auto next_open = t0;
    while (Clock::now() < stop) {
      auto now = Clock::now();
      // Paced opens: open_rate_ per second, and never more than kMaxHandshakes at once.
      while (!waiting_.empty() && handshakes_ < kMaxHandshakes && next_open <= now) {
        size_t i = waiting_.front();
        waiting_.pop();
        start(i);
        next_open += std::chrono::microseconds(1000000 / open_rate_);
        if (next_open < now - Ms(100)) next_open = now - Ms(100);  // no burst to catch up
      }
      while (!timers_.empty() && timers_.top().due <= now) {
        Timer t = timers_.top();
        timers_.pop();
        if (slots_[t.slot].generation == t.generation && slots_[t.slot].fd >= 0) fire(t.slot, now);
      }
      if (open_ >= count_ && !ramped_) {
        ramped_ = true;
        ramp_seconds_ = std::chrono::duration<double>(now - t0).count();
      }
      if (ramped_) min_open_ = std::min(min_open_, open_);
      auto wake = stop;
      if (!timers_.empty()) wake = std::min(wake, timers_.top().due);
      if (!waiting_.empty()) wake = std::min(wake, std::max(next_open, now + Ms(1)));
      int ms = static_cast<int>(std::chrono::duration_cast<Ms>(wake - Clock::now()).count());
      int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), std::clamp(ms, 0, 100));
      if (n < 0 && errno != EINTR) die_errno("epoll_wait");
      for (int k = 0; k < n; ++k) step(events[k].data.u64, events[k].events);
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    finish(events);
    std::printf("{\"test\":\"soak\",\"via\":\"%s\",\"count\":%zu,\"seconds\":%.1f,\"ramp_seconds\":%.1f,"
                "\"min_open_after_ramp\":%zu,\"opened\":%llu,\"lived\":%llu,\"round_trips\":%llu,"
                "\"errors\":%llu,\"first_error\":\"%s\"}\n",
                via_.c_str(), count_, elapsed, ramp_seconds_, ramped_ ? min_open_ : 0,
                static_cast<unsigned long long>(opened_), static_cast<unsigned long long>(lived_),
                static_cast<unsigned long long>(round_trips_), static_cast<unsigned long long>(errors_),
                first_error_.c_str());
    return 0;
  }

 private:
  // The end: no new stream or message; each stream closes once its handshake or echo is over, as a
  // client that leaves cleanly does (a stream cut with bytes in flight would count as an error at
  // the proxy), within kDeadline.
  void finish(std::vector<epoll_event>& events) {
    stopping_ = true;
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].phase == Phase::open) end(i);
    }
    auto deadline = Clock::now() + kDeadline;
    while (open_ + handshakes_ > 0 && Clock::now() < deadline) {
      int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), 100);
      for (int k = 0; k < n; ++k) step(events[k].data.u64, events[k].events);
    }
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].fd >= 0) fail(i, "still busy at the end");
    }
  }

  void start(size_t i) {
    Slot& s = slots_[i];
    s.in.clear();
    s.out.clear();
    s.fd = socket(target_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.fd < 0) die_errno("socket");  // out of descriptors: the run's set-up is wrong
    set_nodelay(s.fd);
    epoll_event e{EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, {.u64 = i}};
    epoll_ctl(epfd_, EPOLL_CTL_ADD, s.fd, &e);
    s.phase = Phase::connecting;
    ++handshakes_;
    ++opened_;
    arm(i, kDeadline);
    if (connect(s.fd, reinterpret_cast<const sockaddr*>(&target_.addr), target_.len) != 0 && errno != EINPROGRESS)
      fail(i, std::string("connect: ") + std::strerror(errno));
  }

  // The slot's next timer, which replaces the one before.
  void arm(size_t i, Clock::duration after) { timers_.push({Clock::now() + after, i, ++slots_[i].generation}); }

  // A timer of the slot's current life: the next message, the end of its life, or a deadline.
  void fire(size_t i, Clock::time_point now) {
    Slot& s = slots_[i];
    if (s.phase == Phase::open) {
      if (now >= s.ends) return retire(i);
      return send_message(i);
    }
    fail(i, s.phase == Phase::echo ? "no echo within 10 s" : "handshake not done within 10 s");
  }

  void step(size_t i, uint32_t ev) {
    Slot& s = slots_[i];
    if (s.fd < 0) return;
    if (s.phase == Phase::connecting) {
      if (ev & (EPOLLERR | EPOLLHUP)) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        return fail(i, std::string("connect: ") + std::strerror(err ? err : ECONNRESET));
      }
      if (!(ev & EPOLLOUT)) return;
      if (via_ == "socks5") {
        s.phase = Phase::greeting;
        s.out = std::string("\x05\x01\x00", 3);
      } else if (via_ == "connect") {
        s.phase = Phase::request;
        s.out = connect_request_;
      } else {
        return opened(i);
      }
    }
    if (!flush(i)) return;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) read_ready(i);
  }

  bool flush(size_t i) {
    Slot& s = slots_[i];
    while (!s.out.empty()) {
      ssize_t w = send(s.fd, s.out.data(), s.out.size(), MSG_NOSIGNAL);
      if (w < 0 && errno == EAGAIN) return true;
      if (w <= 0) {
        fail(i, std::string("send: ") + std::strerror(errno));
        return false;
      }
      s.out.erase(0, static_cast<size_t>(w));
    }
    return true;
  }

  void read_ready(size_t i) {
    Slot& s = slots_[i];
    char buf[4096];
    for (;;) {
      ssize_t r = recv(s.fd, buf, sizeof buf, 0);
      if (r < 0 && errno == EAGAIN) return;
      if (r < 0) return fail(i, std::string("recv: ") + std::strerror(errno));
      if (r == 0) return fail(i, "closed by the proxy");
      s.in.append(buf, static_cast<size_t>(r));
      if (!consume(i)) return;
    }
  }

  // What the bytes read so far complete; false when the slot failed or was replaced.
  bool consume(size_t i) {
    Slot& s = slots_[i];
    switch (s.phase) {
      case Phase::greeting:
        if (s.in.size() < 2) return true;
        if (s.in[0] != 5 || s.in[1] != 0) return fail(i, "SOCKS5 greeting refused"), false;
        s.in.erase(0, 2);
        s.phase = Phase::request;
        s.out = socks_request_;
        return flush(i);
      case Phase::request:
        if (via_ == "socks5") {
          if (s.in.size() < 4) return true;
          size_t need = s.in[3] == 1 ? 10 : s.in[3] == 4 ? 22 : 0;
          if (s.in[1] != 0 || need == 0) return fail(i, "SOCKS5 CONNECT refused"), false;
          if (s.in.size() < need) return true;
          if (s.in.size() > need) return fail(i, "bytes after the SOCKS5 reply"), false;
        } else {
          if (s.in.find("\r\n\r\n") == std::string::npos) {
            if (s.in.size() > 8192) return fail(i, "CONNECT answer too long"), false;
            return true;
          }
          if (s.in.compare(0, 12, "HTTP/1.1 200") != 0)
            return fail(i, "CONNECT refused: " + s.in.substr(0, s.in.find('\r'))), false;
          if (s.in.size() > s.in.find("\r\n\r\n") + 4) return fail(i, "bytes after the CONNECT answer"), false;
        }
        opened(i);
        return slots_[i].fd >= 0;
      case Phase::echo:
        if (s.in.size() < s.expect.size()) return true;
        if (s.in != s.expect) return fail(i, "the echo differs from what was sent"), false;
        s.in.clear();
        ++round_trips_;
        s.phase = Phase::open;
        if (stopping_) return end(i), false;
        schedule(i);
        return true;
      default:
        return fail(i, "bytes nobody asked for"), false;
    }
  }

  void opened(size_t i) {
    Slot& s = slots_[i];
    --handshakes_;
    ++open_;
    s.in.clear();
    s.phase = Phase::open;
    std::uniform_real_distribution<double> life(0.5, 1.5);
    s.ends = Clock::now() + std::chrono::duration_cast<Clock::duration>(lifetime_ * life(rng_));
    if (stopping_) return end(i);
    send_message(i);  // the first round trip proves the stream reaches the echo server
  }

  void schedule(size_t i) {
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    auto next = std::chrono::duration_cast<Clock::duration>(interval_ * jitter(rng_));
    Slot& s = slots_[i];
    arm(i, std::min<Clock::duration>(next, std::max<Clock::duration>(s.ends - Clock::now(), Clock::duration(0))));
  }

  void send_message(size_t i) {
    Slot& s = slots_[i];
    char head[64];
    int n = std::snprintf(head, sizeof head, "%zu:%llu:", i, static_cast<unsigned long long>(++s.seq));
    s.expect.assign(head, static_cast<size_t>(n));
    s.expect.resize(size_, static_cast<char>('a' + s.seq % 26));
    s.phase = Phase::echo;
    s.out = s.expect;
    arm(i, kDeadline);
    flush(i);
  }

  void retire(size_t i) {
    ++lived_;
    end(i);
  }

  void fail(size_t i, const std::string& why) {
    if (errors_++ == 0) first_error_ = why;
    end(i);
  }

  // Closes the slot's stream and puts it back in line to open again.
  void end(size_t i) {
    Slot& s = slots_[i];
    if (s.phase == Phase::open || s.phase == Phase::echo) {
      --open_;
    } else if (s.phase != Phase::idle) {
      --handshakes_;
    }
    close(s.fd);
    s.fd = -1;
    s.phase = Phase::idle;
    if (!stopping_) waiting_.push(i);
  }

  Endpoint target_;
  std::string via_, socks_request_, connect_request_;
  size_t count_;
  long seconds_;
  Ms interval_, lifetime_;
  long open_rate_;
  size_t size_;
  std::vector<Slot> slots_;
  std::queue<size_t> waiting_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::minstd_rand rng_;
  int epfd_ = -1;
  size_t handshakes_ = 0, open_ = 0, min_open_ = SIZE_MAX;
  bool ramped_ = false, stopping_ = false;
  double ramp_seconds_ = 0;
  uint64_t opened_ = 0, lived_ = 0, round_trips_ = 0, errors_ = 0;
  std::string first_error_;
};

}  // namespace

int cmd_soak(const Options& opt) { return Soak(opt).run(); }

}  // namespace loadgen

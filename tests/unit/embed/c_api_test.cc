// The C API of libugate (include/ugate/ugate.h), through the shared library:
// errors, lifecycle, streams through a running gateway, many of them from
// several threads, and the log, metric and protect callbacks.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "embed/echo_server.h"
#include "ugate/ugate.h"

namespace {

using ugate::test::EchoServer;

const char* kTwoWorkers = "workers: 2\ndrain_timeout: 2s\n";

std::string dest(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// Writes `text` and reads as many bytes back (the echo), within the socket's timeout.
std::string round_trip(int fd, const std::string& text) {
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) return "<write failed>";
  std::string got;
  char buf[4096];
  while (got.size() < text.size()) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

struct Gateway {
  ugate_gateway* g = nullptr;
  explicit Gateway(const char* yaml = kTwoWorkers) {
    EXPECT_EQ(ugate_create(yaml, "test", &g), UGATE_OK) << ugate_last_error();
  }
  ~Gateway() { ugate_destroy(g); }
};

TEST(CApi, VersionAndErrorNames) {
  EXPECT_STREQ(ugate_version(), "0.1.0");
  EXPECT_STREQ(ugate_error_name(UGATE_ERR_CONFIG), "config");
  EXPECT_STREQ(ugate_error_name(12345), "unknown");
}

TEST(CApi, BadYamlIsAConfigErrorWithTheKey) {
  ugate_gateway* g = reinterpret_cast<ugate_gateway*>(0x1);
  EXPECT_EQ(ugate_create("workers: [1, 2\n", "bad.yaml", &g), UGATE_ERR_CONFIG);
  EXPECT_EQ(g, nullptr);
  EXPECT_NE(std::string(ugate_last_error()), "");
  EXPECT_EQ(ugate_create("workers: lots\n", "bad.yaml", &g), UGATE_ERR_CONFIG);
  EXPECT_NE(std::string(ugate_last_error()).find("workers"), std::string::npos) << ugate_last_error();
  EXPECT_EQ(ugate_create("no_such_key: 1\n", "bad.yaml", &g), UGATE_ERR_CONFIG);
  EXPECT_NE(std::string(ugate_last_error()).find("no_such_key"), std::string::npos) << ugate_last_error();
}

TEST(CApi, NullArgumentsAreRefused) {
  ugate_gateway* g = nullptr;
  EXPECT_EQ(ugate_create(nullptr, nullptr, &g), UGATE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ugate_create("workers: 1\n", nullptr, nullptr), UGATE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ugate_start(nullptr), UGATE_ERR_INVALID_ARGUMENT);
  int fd = 7;
  EXPECT_EQ(ugate_open_stream(nullptr, "127.0.0.1:1", &fd), UGATE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(fd, -1);
  ugate_destroy(nullptr);
}

TEST(CApi, StartErrorSaysWhichListener) {
  uint16_t port = 0;
  int taken = ugate::test::loopback_listener(1, port);  // without SO_REUSEPORT: the gateway cannot bind it
  std::string yaml = "workers: 1\nlisteners:\n  - { name: busy, address: '127.0.0.1:" + std::to_string(port) +
                     "', protocol: tcp, forward: '127.0.0.1:9' }\n";
  Gateway gw(yaml.c_str());
  EXPECT_EQ(ugate_start(gw.g), UGATE_ERR_START);
  EXPECT_NE(std::string(ugate_last_error()).find("busy"), std::string::npos) << ugate_last_error();
  EXPECT_EQ(ugate_start(gw.g), UGATE_ERR_STATE);
  ::close(taken);
}

TEST(CApi, AdminServerOnlyWhenTheYamlAsks) {
  std::map<std::string, uint64_t> seen;
  auto count = [](const char* name, const char*, uint64_t, int, void* user) {
    (*static_cast<std::map<std::string, uint64_t>*>(user))[name]++;
  };
  Gateway plain;
  ASSERT_EQ(ugate_start(plain.g), UGATE_OK);
  uint16_t port = 0;
  int probe = ugate::test::loopback_listener(1, port);
  ::close(probe);
  std::string yaml = "workers: 1\nadmin: { address: '127.0.0.1:" + std::to_string(port) + "' }\n";
  Gateway with_admin(yaml.c_str());
  ASSERT_EQ(ugate_start(with_admin.g), UGATE_OK) << ugate_last_error();
  int c = ugate::test::loopback_connect(port);  // its admin port answers
  EXPECT_GE(c, 0);
  ::close(c);
  ASSERT_EQ(ugate_read_metrics(plain.g, count, &seen), UGATE_OK);
  EXPECT_GT(seen.size(), 0u);
}

TEST(CApi, Lifecycle) {
  Gateway gw;
  int fd = -1;
  EXPECT_EQ(ugate_open_stream(gw.g, "127.0.0.1:9", &fd), UGATE_ERR_STATE);
  EXPECT_EQ(ugate_drain(gw.g), UGATE_ERR_STATE);
  EXPECT_EQ(ugate_wait(gw.g, 0), UGATE_ERR_STATE);
  ASSERT_EQ(ugate_start(gw.g), UGATE_OK) << ugate_last_error();
  EXPECT_EQ(ugate_start(gw.g), UGATE_ERR_STATE);
  EXPECT_EQ(ugate_reload(gw.g, kTwoWorkers), UGATE_ERR_NOT_SUPPORTED);
  EXPECT_NE(std::string(ugate_last_error()).find("not supported"), std::string::npos);
  EXPECT_EQ(ugate_wait(gw.g, 50), UGATE_ERR_TIMEOUT);
  ASSERT_EQ(ugate_drain(gw.g), UGATE_OK);
  EXPECT_EQ(ugate_wait(gw.g, 10'000), UGATE_OK);  // nothing open: the drain ends at once
  EXPECT_EQ(ugate_stop(gw.g), UGATE_OK);
  EXPECT_EQ(ugate_stop(gw.g), UGATE_OK);
  EXPECT_EQ(ugate_open_stream(gw.g, "127.0.0.1:9", &fd), UGATE_ERR_STATE);
}

TEST(CApi, StreamEchoesThroughTheGateway) {
  EchoServer echo;
  Gateway gw;
  ASSERT_EQ(ugate_start(gw.g), UGATE_OK) << ugate_last_error();
  int fd = -1;
  ASSERT_EQ(ugate_open_stream(gw.g, dest(echo.port()).c_str(), &fd), UGATE_OK) << ugate_last_error();
  ASSERT_GE(fd, 0);
  EXPECT_EQ(round_trip(fd, "hello through ugate"), "hello through ugate");
  std::string big(300'000, 'x');  // more than a socket buffer: the proxy moves it in pieces
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  std::thread writer([&] { ASSERT_EQ(::write(fd, big.data(), big.size()), static_cast<ssize_t>(big.size())); });
  std::string got;
  char buf[65536];
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (got.size() < big.size()) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  writer.join();
  EXPECT_TRUE(got == big) << got.size() << " bytes back of " << big.size();
  uint64_t open = 0;
  EXPECT_EQ(ugate_active_streams(gw.g, &open), UGATE_OK);
  EXPECT_EQ(open, 1u);
  ::close(fd);
  for (int i = 0; i < 100 && open; ++i) {  // the session ends once both sides closed
    usleep(20'000);
    ugate_active_streams(gw.g, &open);
  }
  EXPECT_EQ(open, 0u);
}

TEST(CApi, RefusedDestinationIsAConnectError) {
  uint16_t port = 0;
  int closed = ugate::test::loopback_listener(1, port);
  ::close(closed);  // nothing listens there now
  Gateway gw;
  ASSERT_EQ(ugate_start(gw.g), UGATE_OK);
  int fd = 5;
  EXPECT_EQ(ugate_open_stream(gw.g, dest(port).c_str(), &fd), UGATE_ERR_CONNECT);
  EXPECT_EQ(fd, -1);
  EXPECT_NE(std::string(ugate_last_error()).find("connect_refused"), std::string::npos) << ugate_last_error();
  EXPECT_EQ(ugate_open_stream(gw.g, "no port", &fd), UGATE_ERR_INVALID_ARGUMENT);
}

// Many streams at once from several threads, each echoing its own bytes.
TEST(CApi, ManyStreamsFromManyThreads) {
  EchoServer echo;
  Gateway gw;
  ASSERT_EQ(ugate_start(gw.g), UGATE_OK);
  constexpr int kThreads = 4, kPerThread = 100;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<int> fds;
      for (int i = 0; i < kPerThread; ++i) {
        int fd = -1;
        if (ugate_open_stream(gw.g, dest(echo.port()).c_str(), &fd) == UGATE_OK) fds.push_back(fd);
      }
      for (size_t i = 0; i < fds.size(); ++i) {
        std::string text = "thread " + std::to_string(t) + " stream " + std::to_string(i);
        if (round_trip(fds[i], text) == text) ok++;
      }
      for (int fd : fds) ::close(fd);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(echo.accepted(), static_cast<size_t>(kThreads * kPerThread));
}

// Streams opened while another thread stops the gateway: each call answers
// (a stream or an error), none hangs past its bound, nothing crashes.
TEST(CApi, StopWhileOpening) {
  EchoServer echo;
  Gateway gw;
  ASSERT_EQ(ugate_start(gw.g), UGATE_OK);
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        int fd = -1;
        int rc = ugate_open_stream(gw.g, dest(echo.port()).c_str(), &fd);
        if (rc == UGATE_OK) ::close(fd);
        answered++;
      }
    });
  }
  usleep(20'000);
  EXPECT_EQ(ugate_stop(gw.g), UGATE_OK);
  for (auto& th : threads) th.join();
  EXPECT_EQ(answered.load(), 150);
  int fd = -1;
  EXPECT_EQ(ugate_open_stream(gw.g, dest(echo.port()).c_str(), &fd), UGATE_ERR_STATE);
}

TEST(CApi, MetricsCountTheEmbedStreams) {
  EchoServer echo;
  Gateway gw;
  ASSERT_EQ(ugate_start(gw.g), UGATE_OK);
  for (int i = 0; i < 3; ++i) {
    int fd = -1;
    ASSERT_EQ(ugate_open_stream(gw.g, dest(echo.port()).c_str(), &fd), UGATE_OK);
    EXPECT_EQ(round_trip(fd, "m"), "m");
    ::close(fd);
  }
  std::map<std::string, uint64_t> seen;
  auto collect = [](const char* name, const char* labels, uint64_t value, int counter, void* user) {
    auto& m = *static_cast<std::map<std::string, uint64_t>*>(user);
    m[std::string(name) + "{" + labels + "}" + (counter ? "c" : "g")] = value;
  };
  for (int i = 0; i < 100; ++i) {  // the last stream's close is counted once both sides closed
    seen.clear();
    ASSERT_EQ(ugate_read_metrics(gw.g, collect, &seen), UGATE_OK);
    auto it = seen.find("ugate_listener_closed_total{listener=\"embed\"}c");
    if (it != seen.end() && it->second == 3) break;
    usleep(20'000);
  }
  EXPECT_EQ(seen["ugate_listener_closed_total{listener=\"embed\"}c"], 3u);
  EXPECT_GT(seen.size(), 10u);
}

struct LogLines {
  std::mutex mu;
  std::vector<std::pair<int, std::string>> lines;
};

TEST(CApi, LogCallbackGetsTheGatewaysLines) {
  LogLines log;
  ASSERT_EQ(ugate_set_log_callback(
                [](int level, const char* message, void* user) {
                  auto& l = *static_cast<LogLines*>(user);
                  std::lock_guard lock(l.mu);
                  l.lines.emplace_back(level, message);
                },
                &log, UGATE_LOG_INFO),
            UGATE_OK);
  EXPECT_EQ(ugate_set_log_callback(nullptr, nullptr, 99), UGATE_ERR_INVALID_ARGUMENT);
  {
    Gateway gw;
    ASSERT_EQ(ugate_start(gw.g), UGATE_OK);
  }
  ugate_set_log_callback(nullptr, nullptr, UGATE_LOG_INFO);
  std::lock_guard lock(log.mu);
  bool ready = false;
  for (auto& [level, text] : log.lines) ready = ready || (level == UGATE_LOG_INFO && text.find("ugate ready") == 0);
  EXPECT_TRUE(ready);
}

struct Protected {
  std::atomic<int> calls{0};
  std::atomic<bool> refuse{false};
};

TEST(CApi, ProtectSeesEverySocketAndMayRefuse) {
  EchoServer echo;
  Protected p;
  ugate_set_protect_callback(
      [](int fd, void* user) {
        auto& pr = *static_cast<Protected*>(user);
        pr.calls++;
        int type = 0;
        socklen_t len = sizeof type;
        EXPECT_EQ(::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);  // a live socket
        return pr.refuse ? -1 : 0;
      },
      &p);
  std::string yaml = std::string(kTwoWorkers) +
                     "listeners:\n  - { name: fwd, address: '127.0.0.1:0', protocol: tcp, forward: '" +
                     dest(echo.port()) + "' }\n";
  Gateway gw(yaml.c_str());
  ASSERT_EQ(ugate_start(gw.g), UGATE_OK);
  EXPECT_EQ(p.calls.load(), 2);  // the listener's socket on each worker
  int fd = -1;
  ASSERT_EQ(ugate_open_stream(gw.g, dest(echo.port()).c_str(), &fd), UGATE_OK);
  EXPECT_EQ(p.calls.load(), 3);  // the upstream connection
  ::close(fd);
  p.refuse = true;
  EXPECT_EQ(ugate_open_stream(gw.g, dest(echo.port()).c_str(), &fd), UGATE_ERR_CONNECT);
  EXPECT_NE(std::string(ugate_last_error()).find("connect_failed"), std::string::npos) << ugate_last_error();
  EXPECT_EQ(p.calls.load(), 4);
  ugate_set_protect_callback(nullptr, nullptr);
}

}  // namespace

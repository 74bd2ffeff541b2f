#pragma once
// What the door tests share: a real Worker with its WorkerListeners, one
// listener (ListenerGroup and its slot, on 127.0.0.1 and a port the kernel
// picks) running the door under test, and a FakeConnector as the worker's
// connector, which records each dial and answers as the test says (a real
// loopback upstream, or a refusal). Clients are real loopback sockets; the
// test reads what the door answered them and the slot's stats.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "doors/doors.h"
#include "fake_connector.h"
#include "listener/worker_listeners.h"
#include "loopback.h"
#include "mesh/mesh.h"
#include "runtime/listen_socket.h"
#include "runtime/worker.h"

namespace ugate::test {

using namespace std::chrono_literals;

// Blocking socket helpers for the client and upstream ends. Each socket has a
// receive timeout, so a door that never answers fails the test, not hangs it.
inline void set_receive_timeout(int fd, std::chrono::milliseconds t = 3000ms) {
  timeval tv{static_cast<time_t>(t.count() / 1000), static_cast<suseconds_t>(t.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

inline void send_all(int fd, std::string_view s) {
  ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}

// Exactly n bytes, or fewer when the stream ended or the timeout passed.
inline std::string read_n(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  return out;
}

// Everything until the end of the stream (FIN, reset or the timeout); `end`
// is recv's last result: 0 for FIN, -1 (errno in `err`) for a reset.
inline std::string read_all(int fd, ssize_t* end = nullptr, int* err = nullptr) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r > 0) {
      out.append(buf, static_cast<size_t>(r));
      continue;
    }
    if (end) *end = r;
    if (err) *err = r < 0 ? errno : 0;
    return out;
  }
}

// Reads until `delimiter` (included) or the end.
inline std::string read_until(int fd, std::string_view delimiter) {
  std::string out;
  char c;
  while (out.size() < 65536 && !out.ends_with(delimiter)) {
    if (::recv(fd, &c, 1, 0) != 1) break;
    out += c;
  }
  return out;
}

// recv's result once the stream ends: 0 for FIN, -1 with errno for a reset.
inline ssize_t read_end(int fd, int& err) {
  char c;
  ssize_t n = ::recv(fd, &c, 1, 0);
  err = n < 0 ? errno : 0;
  return n;
}

class DoorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.name = "door-test";
    config_.connect_timeout = Duration{400};
    config_.sniff_timeout = Duration{300};
    config_.handshake_timeout = Duration{500};
  }

  void TearDown() override {
    worker_.reset();  // joins the thread, ends what is left (stats, logs)
    for (int fd : fds_) ::close(fd);
  }

  // Starts the worker with one listener of `protocol` on 127.0.0.1 running
  // `door` (by default the protocol's own). With `mesh`, the worker has a
  // Mesh whose HBONE requests go to the doors' hbone_door, as the gate wires
  // it; the connector stays the fake.
  void start(Protocol protocol, Door door = nullptr, bool mesh = false) {
    config_.protocol = protocol;
    worker_.emplace(0, nullptr);
    fake_.poller = &worker_->poller();
    worker_->set_connector(&fake_);
    if (admin_) worker_->set_admin_endpoint(*admin_);
    if (mesh) {
      auto m = std::make_unique<Mesh>(*worker_, mesh_config_, nodes_, mesh_shared_);
      m->set_hbone_door(hbone_door);
      worker_->set_mesh(m.get());
      worker_->add_service(std::move(m));
    }
    group_.emplace(config_, auth_);
    auto listeners = std::make_unique<WorkerListeners>(*worker_);
    asio::ip::tcp::endpoint any_port(asio::ip::make_address("127.0.0.1"), 0);
    // Never transparent: the capture tests give the door its tproxy option, not the socket.
    auto acceptor = open_listen_socket(worker_->context(), any_port, "listener 'door-test'", false);
    slot_ = &listeners->add(*group_, door ? door : door_for(protocol), std::move(acceptor));
    config_.address = {"127.0.0.1", slot_->bound.port()};
    worker_->set_listeners(std::move(listeners));
    worker_->start();
  }

  // Starts the worker with one `udp` listener on 127.0.0.1 (a DatagramListener, no door).
  void start_udp() {
    config_.protocol = Protocol::kUdp;
    worker_.emplace(0, nullptr);
    worker_->set_connector(&fake_);
    group_.emplace(config_, auth_);
    auto listeners = std::make_unique<WorkerListeners>(*worker_);
    asio::ip::udp::endpoint any_port(asio::ip::make_address("127.0.0.1"), 0);
    auto socket = open_udp_socket(worker_->context(), any_port, "listener 'door-test'", false);
    slot_ = &listeners->add_datagram(*group_);
    slot_->datagram = make_udp_forwarder(*worker_, *slot_, std::move(socket));
    config_.address = {"127.0.0.1", slot_->bound.port()};
    worker_->set_listeners(std::move(listeners));
    worker_->start();
  }

  uint16_t port() const { return slot_->bound.port(); }

  int track(int fd) {
    fds_.push_back(fd);
    return fd;
  }

  // A client connection to the listener.
  int connect_client() {
    int fd = track(loopback_connect(port()));
    set_receive_timeout(fd);
    return fd;
  }

  // A loopback listener that successful dials of the fake connect to.
  void upstream_listener() {
    uint16_t p = 0;
    upstream_listener_ = track(loopback_listener(16, p));
    fake_.port = p;
  }
  uint16_t upstream_port() const { return fake_.port; }

  // The upstream end of the connection a dial made (bounded wait); -1 if none came.
  int accept_upstream() {
    pollfd p{upstream_listener_, POLLIN, 0};
    if (::poll(&p, 1, 3000) != 1) return -1;
    int fd = track(::accept(upstream_listener_, nullptr, nullptr));
    set_receive_timeout(fd);
    return fd;
  }

  // Runs `door` on a connection accepted elsewhere (for doors whose input is
  // the accepted socket itself, such as capture's original destination).
  void run_door(Door door, int fd, TcpEndpoint peer) {
    Worker& w = *worker_;
    ListenerSlot& s = *slot_;
    Result<Admission, CloseReason> admitted = s.admit();  // as the accept loop does
    if (!admitted) {
      ::close(fd);
      return;
    }
    asio::post(w.context(), [&w, &s, door, fd, from = AcceptedFrom{peer, {}, {}, std::move(*admitted)}]() mutable {
      w.spawn(door(w, s, fd, std::move(from)));
    });
  }

  // Bounded waits on the slot's counters, which the worker writes.
  bool wait_closed(uint64_t n) {
    for (int i = 0; i < 300 && slot_->stats.closed.get() < n; ++i) std::this_thread::sleep_for(10ms);
    return slot_->stats.closed.get() == n;
  }
  // The slot's active count goes down just after its closed count goes up.
  bool wait_idle() {
    for (int i = 0; i < 300 && (slot_->stats.active.get() != 0 || group_->active.load() != 0); ++i)
      std::this_thread::sleep_for(5ms);
    return slot_->stats.active.get() == 0 && group_->active.load() == 0;
  }
  // Bytes each way through the open stream, then a half-close from each
  // end: the client reads the EOF and the stream ends done.
  void exchange_then_close(int client, int up, std::string_view up_bytes, std::string_view down_bytes) {
    send_all(client, up_bytes);
    EXPECT_EQ(read_n(up, up_bytes.size()), up_bytes);
    send_all(up, down_bytes);
    EXPECT_EQ(read_n(client, down_bytes.size()), down_bytes);
    ::shutdown(client, SHUT_WR);
    ::shutdown(up, SHUT_WR);
    int err = 0;
    EXPECT_EQ(read_end(client, err), 0);
    ASSERT_TRUE(wait_closed(1)) << reasons();
    EXPECT_EQ(closed_by(CloseReason::kDone), 1u);
  }
  uint64_t closed_by(CloseReason r) const { return slot_->stats.closed_by_reason[static_cast<size_t>(r)].get(); }
  // The reasons the slot's streams closed with so far, with their counts (for messages).
  std::string reasons() const {
    std::string out;
    for (size_t i = 0; i < static_cast<size_t>(CloseReason::kCount); ++i) {
      if (uint64_t n = slot_->stats.closed_by_reason[i].get())
        out += std::string(to_string(static_cast<CloseReason>(i))) + "=" + std::to_string(n) + " ";
    }
    return out;
  }

  ListenerConfig config_;
  const ListenerAuth* auth_ = nullptr;
  std::optional<TcpEndpoint> admin_;  // the admin server's address, as the gate gives it to workers
  MeshConfig mesh_config_;
  std::vector<NodeConfig> nodes_;
  MeshShared mesh_shared_;
  FakeConnector fake_;  // outlives the worker's sessions
  std::optional<ListenerGroup> group_;
  std::optional<Worker> worker_;
  ListenerSlot* slot_ = nullptr;
  int upstream_listener_ = -1;
  std::vector<int> fds_;
};

}  // namespace ugate::test

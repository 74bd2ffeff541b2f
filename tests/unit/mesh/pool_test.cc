// The pool's dials against a node that takes the TCP connection and never
// answers the TLS handshake, so a dial stays suspended as long as the test
// wants: what happens to its entry when the pool gives it up meanwhile.
#include "mesh/pool.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <chrono>
#include <functional>
#include <optional>

#include "identity/identity.h"
#include "identity/mesh_identity.h"
#include "loopback.h"
#include "mesh/mesh.h"
#include "temp_dir.h"

namespace ugate {
namespace {

using namespace std::chrono_literals;

std::string temp_dir() { return test::temp_dir("pool"); }

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

class PoolDial : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = temp_dir();
    IdentityConfig cfg;
    cfg.name = "me";
    cfg.trust_domain = "mesh.test";
    cfg.ca = IdentityConfig::Ca::kLocal;
    cfg.ca_dir = dir + "/ca";
    identity_.emplace(load_or_create_identity(cfg, dir + "/me"), MeshIdentity::Options{});
    node_listener_ = test::loopback_listener(8, node_port_);
    config_.connect_timeout = Duration(60'000);  // only the test ends a dial
    worker_.emplace(0, nullptr);
    auto mesh = std::make_unique<Mesh>(*worker_, config_, nodes_, shared_);
    mesh_ = mesh.get();
    mesh_->set_identity(&*identity_);
    worker_->set_mesh(mesh_);
    worker_->add_service(std::move(mesh));  // ended with the worker, as in the gate
    NodeConfig node{"n", HostPort{"127.0.0.1", node_port_}, "spiffe://mesh.test/ns/default/sa/n", ""};
    path_ = MeshPath{{node}, HostPort{"127.0.0.1", 80}};
  }

  void TearDown() override {
    worker_.reset();  // aborts the pool and runs what that wakes
    for (int fd : accepted_) ::close(fd);
    ::close(node_listener_);
  }

  // Runs the worker's loop on this thread until `done` or `limit`.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= end) return false;
      worker_->context().run_one_for(5ms);
    }
    return true;
  }

  // A dial reached the node: its TCP connection is taken (and held, so its
  // handshake waits for an answer that never comes).
  bool node_dialled() {
    if (!run_until([&] { return readable(node_listener_); }, 3s)) return false;
    accepted_.push_back(::accept(node_listener_, nullptr, nullptr));
    return true;
  }

  // A stream through the pool to the path; `result` is set when it ends.
  void start_stream(std::optional<CloseReason>& result) {
    asio::co_spawn(
        worker_->context(),
        [this, &result]() -> asio::awaitable<void> {
          auto meta = std::make_shared<StreamMeta>();
          std::unique_ptr<Stream> up;
          Pool::Fields none;
          CloseReason r = co_await mesh_->pool().connect(path_, meta, std::move(none), up);
          result = r;
        },
        asio::detached);
  }

  Pool& pool() { return mesh_->pool(); }

  std::optional<MeshIdentity> identity_;
  MeshConfig config_;
  std::vector<NodeConfig> nodes_;
  MeshShared shared_;
  std::optional<Worker> worker_;
  Mesh* mesh_ = nullptr;
  MeshPath path_;
  uint16_t node_port_ = 0;
  int node_listener_ = -1;
  std::vector<int> accepted_;
};

// abort_all() while the dial is suspended in its handshake, and a new stream
// to the same path before the aborted dial has resumed: the new stream gets
// a dial of its own, and the old one, when it resumes, leaves the new entry
// alone. (Before the pool looked its entry up again, the aborted dial stayed
// in the entry for good and the new stream waited forever.)
TEST_F(PoolDial, AbortWhileTheDialIsSuspendedThenDialAgain) {
  std::optional<CloseReason> first, second;
  start_stream(first);
  ASSERT_TRUE(node_dialled());
  run_until([] { return false; }, 50ms);  // the ClientHello goes out; the handshake waits
  ASSERT_FALSE(first);
  EXPECT_EQ(pool().paths(), 1u);

  pool().abort_all();  // nothing has run since: the dial is still suspended
  EXPECT_EQ(pool().paths(), 0u) << "an entry with nothing left in it goes with the dial";
  start_stream(second);

  ASSERT_TRUE(run_until([&] { return first.has_value(); }));
  EXPECT_EQ(*first, CloseReason::kDrained);
  EXPECT_TRUE(node_dialled()) << "the second stream never got a dial";
  run_until([] { return false; }, 50ms);  // the first dial's coroutine is over by now
  EXPECT_FALSE(second) << "the aborted dial's end must not touch the new entry";
  EXPECT_EQ(pool().paths(), 1u);

  pool().abort_all();
  ASSERT_TRUE(run_until([&] { return second.has_value(); }));
  EXPECT_EQ(*second, CloseReason::kDrained);
  EXPECT_EQ(pool().paths(), 0u);
}

// The worker ends while a dial is suspended (ASan: nothing used after its
// end, nothing leaked): the mesh aborts the dial, the dial's coroutine ends,
// then the pool goes.
TEST_F(PoolDial, WorkerEndsWhileADialIsSuspended) {
  std::optional<CloseReason> first;
  start_stream(first);
  ASSERT_TRUE(node_dialled());
  run_until([] { return false; }, 50ms);
  worker_.reset();
  EXPECT_EQ(first, CloseReason::kDrained);
}

// A worker's Mesh, with nodes configured as the gate gives them: a CONNECT to
// a node by name asks for its workload_address when it has one (a ztunnel
// refuses any other authority), else for the node's loopback.
class MeshResolve : public PoolDial {
 protected:
  void SetUp() override {
    NodeConfig zt{"zt", HostPort{"10.0.0.7", 15008}, "spiffe://mesh.test/ns/default/sa/app", ""};
    zt.workload_address = "10.0.0.7";
    nodes_.push_back(zt);
    nodes_.push_back(NodeConfig{"plain", HostPort{"10.0.0.8", 15008}, "spiffe://mesh.test/ns/default/sa/plain", ""});
    PoolDial::SetUp();
  }
};

TEST_F(MeshResolve, AConnectToANodeByNameAsksForItsWorkloadAddress) {
  MeshTarget t = mesh_->resolve(HostPort{"zt", 8080}, "");
  ASSERT_EQ(t.kind, MeshTarget::Kind::kPath);
  EXPECT_EQ(t.path.hops.back().address.str(), "10.0.0.7:15008");
  EXPECT_EQ(t.path.authority.str(), "10.0.0.7:8080");
  EXPECT_EQ(mesh_->resolve(HostPort{"ZT.mesh.test", 9}, "").path.authority.str(), "10.0.0.7:9");
  EXPECT_EQ(mesh_->resolve(HostPort{"plain", 8080}, "").path.authority.str(), "127.0.0.1:8080");
}

}  // namespace
}  // namespace ugate

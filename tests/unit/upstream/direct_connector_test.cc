// DirectConnector: names through the resolver, then TCP; the admin guard
// (reaches) and a caller that gave up while the name was looked up.
#include "upstream/direct_connector.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "loopback.h"
#include "runtime/unix_socket.h"
#include "transport/tcp_stream.h"

namespace ugate {
namespace {

TcpEndpoint ep(const char* address, uint16_t port) { return {asio::ip::make_address(address), port}; }

TEST(DirectConnectorReaches, TheBoundAddressOrAnyLocalOneWhenBoundToAll) {
  const TcpEndpoint loopback = ep("127.0.0.1", 15000), any = ep("0.0.0.0", 15000);
  EXPECT_TRUE(reaches({ep("127.0.0.1", 15000)}, loopback));
  EXPECT_TRUE(reaches({ep("::ffff:127.0.0.1", 15000)}, loopback));
  EXPECT_TRUE(reaches({ep("::1", 15000), ep("127.0.0.1", 15000)}, loopback));  // any of a name's addresses
  EXPECT_FALSE(reaches({ep("127.0.0.1", 15001)}, loopback));                   // another port
  EXPECT_FALSE(reaches({ep("127.0.0.2", 15000)}, loopback));                   // bound to .1 only
  EXPECT_TRUE(reaches({ep("127.0.0.2", 15000)}, any));                         // local, and admin binds all
  EXPECT_FALSE(reaches({ep("192.0.2.1", 15000)}, any));                        // TEST-NET-1: not ours
}

class DirectConnectorTest : public ::testing::Test {
 protected:
  Connected run(const ConnectRequest& request, std::unique_ptr<Stream>& up) {
    Connected out;
    bool done = false;
    asio::co_spawn(ctx_, [&]() -> asio::awaitable<void> {
      out = co_await direct_.connect(request, up);
      done = true;
    }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
    for (int i = 0; i < 500 && !done; ++i) ctx_.run_one_for(std::chrono::milliseconds(10));
    EXPECT_TRUE(done);
    return out;
  }

  asio::io_context ctx_;
  Poller poller_{ctx_};
  Resolver resolver_{ctx_.get_executor()};
  DirectConnector direct_{resolver_, poller_};
};

TEST_F(DirectConnectorTest, ConnectsAndSaysBothEnds) {
  uint16_t port = 0;
  int listener = test::loopback_listener(4, port);
  auto meta = std::make_shared<StreamMeta>();
  std::unique_ptr<Stream> up;
  ConnectRequest request{{"127.0.0.1", port}, meta};
  request.wants_local = true;  // a door that names our end to its client (SOCKS5)
  Connected c = run(request, up);
  EXPECT_EQ(c.result, CloseReason::kDone);
  ASSERT_TRUE(up);
  EXPECT_EQ(meta->upstream, ep("127.0.0.1", port));
  EXPECT_EQ(c.local, static_cast<TcpStream&>(*up).local_endpoint());
  EXPECT_NE(c.local.port(), 0);
  up.reset();
  EXPECT_EQ(run(ConnectRequest{{"127.0.0.1", port}, meta}, up).local.port(), 0)
      << "no getsockname for a stream that does not need it";
  up.reset();
  ::close(listener);
}

TEST_F(DirectConnectorTest, RefusesTheForbiddenEndpointAndStopsForACallerThatGaveUp) {
  uint16_t port = 0;
  int listener = test::loopback_listener(4, port);
  auto meta = std::make_shared<StreamMeta>();
  std::unique_ptr<Stream> up;
  const TcpEndpoint admin = ep("127.0.0.1", port);
  EXPECT_EQ(run(ConnectRequest{{"localhost", port}, meta, "", &admin}, up).result, CloseReason::kNotAllowed);
  EXPECT_FALSE(up) << "nothing was dialled";
  const bool given_up = true;
  EXPECT_EQ(run(ConnectRequest{{"127.0.0.1", port}, meta, "", nullptr, &given_up}, up).result,
            CloseReason::kConnectTimeout);
  EXPECT_FALSE(up);
  EXPECT_EQ(run(ConnectRequest{{"nope.invalid", 80}, meta}, up).result, CloseReason::kResolveFailed);
  ::close(listener);
}

TEST_F(DirectConnectorTest, OwnAddressesOnlyRefusesAnyOtherWithoutDialling) {
  uint16_t port = 0;
  int listener = test::loopback_listener(4, port);
  auto meta = std::make_shared<StreamMeta>();
  std::unique_ptr<Stream> up;
  ConnectRequest request{{"127.0.0.1", port}, meta};
  request.own_addresses_only = true;
  EXPECT_EQ(run(request, up).result, CloseReason::kDone) << "loopback is this node's";
  up.reset();
  request.destination = {"192.0.2.1", port};  // TEST-NET-1: nobody's, and never dialled
  EXPECT_EQ(run(request, up).result, CloseReason::kEgressDenied);
  EXPECT_FALSE(up) << "nothing was dialled";
  ::close(listener);
}

TEST_F(DirectConnectorTest, UnixSocketsFromTheConfig) {
  const std::string name = "@ugate-direct-" + std::to_string(::getpid());
  auto meta = std::make_shared<StreamMeta>();
  std::unique_ptr<Stream> up;
  ConnectRequest request{*parse_unix_address("unix:" + name), meta};
  EXPECT_EQ(run(request, up).result, CloseReason::kConnectRefused) << "nobody listens";
  request.destination = *parse_unix_address("unix:/nonexistent/ugate-test.sock");
  EXPECT_EQ(run(request, up).result, CloseReason::kConnectRefused) << "no socket file";

  int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  socklen_t len = unix_sockaddr(name, sa);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&sa), len), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  request.destination = *parse_unix_address("unix:" + name);
  Connected c = run(request, up);
  EXPECT_EQ(c.result, CloseReason::kDone);
  ASSERT_TRUE(up);
  EXPECT_EQ(meta->upstream, TcpEndpoint{}) << "no IP address to name";
  EXPECT_EQ(c.local, TcpEndpoint{});
  int accepted = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  EXPECT_EQ(unix_peer_of(accepted)->pid, ::getpid());
  ::close(accepted);
  up.reset();
  ::close(listener);
}

}  // namespace
}  // namespace ugate

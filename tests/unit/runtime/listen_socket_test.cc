#include "runtime/listen_socket.h"

#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ugate {
namespace {

TEST(ListenSocket, AcceptedSocketsComeWithoutNagle) {
  asio::io_context ctx;
  auto acceptor = open_listen_socket(ctx, {asio::ip::make_address("127.0.0.1"), 0}, "test", true);
  asio::ip::tcp::socket client(ctx);
  client.connect(acceptor.local_endpoint());
  int fd = -1;
  for (int i = 0; i < 100 && fd < 0; ++i) {  // the listener is non-blocking
    fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK);
    if (fd < 0) ::usleep(10'000);
  }
  ASSERT_GE(fd, 0);
  int on = 0;
  socklen_t len = sizeof on;
  ASSERT_EQ(::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
  EXPECT_EQ(on, 1) << "TCP_NODELAY is inherited from the listener, so Session does not set it";
  ::close(fd);
}

TEST(ListenSocket, PortInUseNamesTheListenerAndAHint) {
  asio::io_context ctx;
  auto first = open_listen_socket(ctx, {asio::ip::make_address("127.0.0.1"), 0}, "one", false);
  try {
    open_listen_socket(ctx, first.local_endpoint(), "listener 'two'", false);
    FAIL() << "a second bind without SO_REUSEPORT must fail";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("listener 'two': cannot listen on 127.0.0.1:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--base-port"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ugate

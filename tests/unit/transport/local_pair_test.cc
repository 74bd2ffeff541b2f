// A local socket pair has no RST: LocalPairStream carries a reset from one
// end to the other as an EOF after a raised flag, which reads as a reset.
#include "transport/local_pair.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>

namespace ugate {
namespace {

class LocalPairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    auto resets = std::make_shared<LocalPairResets>();
    for (int side : {0, 1})
      end_[side] = std::make_unique<LocalPairStream>(
          std::make_unique<TcpStream>(fds[side], poller_, std::make_shared<StreamMeta>()), resets, side);
  }
  void TearDown() override {
    end_[0].reset();
    end_[1].reset();
    poller_.shutdown();
  }
  // What a read at `side` sees once the other end's bytes are taken.
  error_code read_end(int side) {
    char buf[16];
    error_code ec;
    while (end_[side]->try_read(asio::buffer(buf), ec) > 0 && !ec) {
    }
    return ec;
  }

  asio::io_context ctx_;
  Poller poller_{ctx_};
  std::unique_ptr<LocalPairStream> end_[2];
};

TEST_F(LocalPairTest, AnOrderlyCloseIsAnEndOfFile) {
  error_code ec;
  ASSERT_EQ(end_[0]->try_write(asio::buffer("abc", 3), ec), 3u);
  end_[0]->close();
  EXPECT_EQ(read_end(1), asio::error::eof);
  EXPECT_FALSE(end_[1]->eof_is_reset());
}

TEST_F(LocalPairTest, AResetOfEitherEndIsAResetAtTheOther) {
  end_[1]->reset();
  EXPECT_EQ(read_end(0), asio::error::connection_reset) << "not the plain EOF the kernel gave";
  EXPECT_TRUE(end_[0]->eof_is_reset()) << "what the proxy asks after a splice that met the end";
  EXPECT_FALSE(end_[1]->eof_is_reset());
}

TEST_F(LocalPairTest, AHalfCloseStaysAnEndOfFile) {
  end_[0]->shutdown_write();
  EXPECT_EQ(read_end(1), asio::error::eof);
  EXPECT_FALSE(end_[1]->eof_is_reset());
}

}  // namespace
}  // namespace ugate

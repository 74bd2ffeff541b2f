// The tcp door on a real worker and loopback sockets, with a fake connector:
// every stream goes to the listener's route, bytes pass both ways with
// half-close; no route and a refused dial end with a reset; max_streams
// refuses at accept.
#include "door_test.h"

namespace ugate {
namespace {

using namespace test;

class DoorTcpForward : public DoorTest {};

TEST_F(DoorTcpForward, ForwardsToTheRouteBothWaysWithHalfClose) {
  config_.router = Router({Route{{}, {"backend.test", 9000}, nullptr}});
  upstream_listener();
  start(Protocol::kTcp);
  int c = connect_client();
  send_all(c, "hello");
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  EXPECT_EQ(read_n(up, 5), "hello");
  send_all(up, "world!");
  EXPECT_EQ(read_n(c, 6), "world!");
  ::shutdown(c, SHUT_WR);  // the client is done; the upstream may still answer
  int err = 0;
  EXPECT_EQ(read_end(up, err), 0) << "EOF passed on as FIN";
  send_all(up, "late");
  EXPECT_EQ(read_n(c, 4), "late");
  ::shutdown(up, SHUT_WR);
  EXPECT_EQ(read_end(c, err), 0);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kDone), 1u);
  EXPECT_EQ(slot_->stats.bytes_up.get(), 5u);
  EXPECT_EQ(slot_->stats.bytes_down.get(), 10u);
  EXPECT_TRUE(wait_idle());

  ASSERT_EQ(fake_.calls, 1);
  ConnectCall call = fake_.last();
  EXPECT_EQ(call.destination, "backend.test:9000");
  EXPECT_EQ(call.protocol, "tcp");
  EXPECT_EQ(call.listener, "door-test");
  EXPECT_FALSE(call.guarded) << "the operator names a forward listener's destination: no admin guard";
}

TEST_F(DoorTcpForward, NoRouteResetsWithoutADial) {
  start(Protocol::kTcp);
  int c = connect_client();
  int err = 0;
  EXPECT_EQ(read_end(c, err), -1);
  EXPECT_EQ(err, ECONNRESET);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kNoRoute), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorTcpForward, RefusedDialResetsTheClientWithTheConnectorsReason) {
  config_.router = Router({Route{{}, {"backend.test", 9000}, nullptr}});
  fake_.refusal = CloseReason::kConnectRefused;
  start(Protocol::kTcp);
  int c = connect_client();
  int err = 0;
  EXPECT_EQ(read_end(c, err), -1) << "a tcp door has no answer to give: a reset";
  EXPECT_EQ(err, ECONNRESET);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kConnectRefused), 1u);
  EXPECT_EQ(fake_.calls, 1);
}

TEST_F(DoorTcpForward, DialPastConnectTimeoutIsCut) {
  config_.router = Router({Route{{}, {"backend.test", 9000}, nullptr}});
  fake_.hang = true;
  start(Protocol::kTcp);
  auto begin = std::chrono::steady_clock::now();
  int c = connect_client();
  int err = 0;
  EXPECT_EQ(read_end(c, err), -1);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1s);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kConnectTimeout), 1u);
}

TEST_F(DoorTcpForward, MaxStreamsRefusesAtAccept) {
  config_.router = Router({Route{{}, {"backend.test", 9000}, nullptr}});
  config_.max_streams = 1;
  upstream_listener();
  start(Protocol::kTcp);
  int first = connect_client();
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  send_all(first, "x");
  EXPECT_EQ(read_n(up, 1), "x");  // the first stream is proxying: the listener is full
  int second = connect_client();
  int err = 0;
  EXPECT_EQ(read_end(second, err), -1);
  EXPECT_EQ(err, ECONNRESET);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kOverload), 1u);
  EXPECT_EQ(slot_->stats.accepted.get(), 2u);
  EXPECT_EQ(slot_->stats.active.get(), 1u);
  EXPECT_EQ(fake_.calls, 1);
  ::shutdown(first, SHUT_WR);
  ::shutdown(up, SHUT_WR);
  ASSERT_TRUE(wait_closed(2)) << reasons();
  EXPECT_TRUE(wait_idle()) << "max_streams counts only open streams";
}

}  // namespace
}  // namespace ugate

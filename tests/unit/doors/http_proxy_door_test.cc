// The http-proxy door on a real worker and loopback sockets, with a fake
// connector: CONNECT tunnels (200, 502/403/504 for refused dials, early bytes
// replayed), absolute-form requests rewritten to origin form on a kept-alive
// connection whose upstream is reused, Proxy-Authorization, the allow list,
// bad requests (400, nothing dialled), a slow client and a silent origin.
#include "door_test.h"

namespace ugate {
namespace {

using namespace test;

class DoorHttpProxy : public DoorTest {};

std::string status_line(const std::string& response) { return response.substr(0, response.find("\r\n")); }

TEST_F(DoorHttpProxy, ConnectTunnelAnswers200AndReplaysEarlyBytes) {
  upstream_listener();
  start(Protocol::kHttpProxy);
  int c = connect_client();
  send_all(c, "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\nearly|");
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  EXPECT_EQ(read_until(c, "\r\n\r\n"), "HTTP/1.1 200 Connection established\r\n\r\n");
  EXPECT_EQ(read_n(up, 6), "early|");
  exchange_then_close(c, up, "tls bytes", "reply");
  EXPECT_EQ(slot_->stats.bytes_up.get(), 15u);
  EXPECT_EQ(slot_->stats.bytes_down.get(), 5u);

  ASSERT_EQ(fake_.calls, 1);
  ConnectCall call = fake_.last();
  EXPECT_EQ(call.destination, "example.test:443");
  EXPECT_EQ(call.protocol, "http-proxy");
  EXPECT_EQ(call.listener, "door-test");
}

TEST_F(DoorHttpProxy, RefusedConnectIsAnsweredByReason) {
  start(Protocol::kHttpProxy);
  const std::pair<CloseReason, std::string> cases[] = {
      {CloseReason::kConnectRefused, "HTTP/1.1 502 Bad Gateway"},
      {CloseReason::kResolveFailed, "HTTP/1.1 502 Bad Gateway"},
      {CloseReason::kNodeUnavailable, "HTTP/1.1 502 Bad Gateway"},
      {CloseReason::kConnectTimeout, "HTTP/1.1 504 Gateway Timeout"},
      {CloseReason::kDenied, "HTTP/1.1 403 Forbidden"},
      {CloseReason::kNotAllowed, "HTTP/1.1 403 Forbidden"},
  };
  uint64_t n = 0;
  for (const auto& [reason, status] : cases) {
    fake_.refusal = reason;
    int c = connect_client();
    send_all(c, "CONNECT target.test:80 HTTP/1.1\r\n\r\n");
    ssize_t end = 1;
    std::string response = read_all(c, &end);
    EXPECT_EQ(status_line(response), status) << to_string(reason);
    EXPECT_NE(response.find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(end, 0) << to_string(reason) << ": FIN after the answer";
    ASSERT_TRUE(wait_closed(++n)) << reasons();
    EXPECT_EQ(closed_by(reason), 1u) << to_string(reason);
  }
  EXPECT_EQ(fake_.calls, static_cast<int>(n));
}

TEST_F(DoorHttpProxy, ConnectPastConnectTimeoutIsAnswered504) {
  fake_.hang = true;
  start(Protocol::kHttpProxy);
  int c = connect_client();
  auto begin = std::chrono::steady_clock::now();
  send_all(c, "CONNECT slow.test:80 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(status_line(read_all(c)), "HTTP/1.1 504 Gateway Timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1500ms);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kConnectTimeout), 1u);
}

TEST_F(DoorHttpProxy, AbsoluteFormRequestsGoOutInOriginFormOnAReusedUpstream) {
  upstream_listener();
  start(Protocol::kHttpProxy);
  int c = connect_client();
  send_all(c,
           "GET http://origin.test:8080/path?q=1 HTTP/1.1\r\nHost: origin.test:8080\r\n"
           "Proxy-Connection: keep-alive\r\nX-Custom: 1\r\n\r\n");
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  std::string head = read_until(up, "\r\n\r\n");
  EXPECT_TRUE(head.starts_with("GET /path?q=1 HTTP/1.1\r\nHost: origin.test:8080\r\n")) << head;
  EXPECT_NE(head.find("X-Custom: 1\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Via: 1.1 ugate\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("Proxy-Connection"), std::string::npos) << "hop-by-hop headers stay here: " << head;
  send_all(up, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(read_until(c, "\r\n\r\n"), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(read_n(c, 5), "hello");

  // The next request to the same origin, with a body, takes the same upstream connection.
  send_all(c, "POST http://origin.test:8080/form HTTP/1.1\r\nHost: origin.test:8080\r\nContent-Length: 3\r\n\r\nabc");
  head = read_until(up, "\r\n\r\n");
  EXPECT_TRUE(head.starts_with("POST /form HTTP/1.1\r\n")) << head;
  EXPECT_EQ(read_n(up, 3), "abc");
  send_all(up, "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(read_until(c, "\r\n\r\n"), "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(fake_.calls, 1) << "one dial for both requests";
  EXPECT_EQ(fake_.last().destination, "origin.test:8080");

  ::shutdown(c, SHUT_WR);  // the client is done: the connection ends in order
  int err = 0;
  EXPECT_EQ(read_end(c, err), 0);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kDone), 1u);
}

// Bodies pass as they are: a chunked request up, a chunked response down,
// each ending where its last chunk says.
TEST_F(DoorHttpProxy, ChunkedBodiesPassUnchangedBothWays) {
  upstream_listener();
  start(Protocol::kHttpProxy);
  int c = connect_client();
  const std::string body = "4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\n";
  send_all(c, "POST http://origin.test/upload HTTP/1.1\r\nHost: origin.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
                  body);
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  std::string head = read_until(up, "\r\n\r\n");
  EXPECT_NE(head.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << head;
  EXPECT_EQ(read_n(up, body.size()), body);
  const std::string reply_body = "3\r\nabc\r\n0\r\n\r\n";
  send_all(up, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + reply_body);
  EXPECT_EQ(read_until(c, "\r\n\r\n"), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(read_n(c, reply_body.size()), reply_body);
  // The exchange is over where the last chunk said: the connection takes the next request.
  send_all(c, "GET http://origin.test/next HTTP/1.1\r\nHost: origin.test\r\n\r\n");
  EXPECT_TRUE(read_until(up, "\r\n\r\n").starts_with("GET /next HTTP/1.1\r\n"));
  EXPECT_EQ(fake_.calls, 1);
}

// Expect: 100-continue is answered here; the origin never sees the Expect.
TEST_F(DoorHttpProxy, ExpectContinueIsAnsweredByTheProxy) {
  upstream_listener();
  start(Protocol::kHttpProxy);
  int c = connect_client();
  send_all(c, "PUT http://origin.test/f HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 4\r\n"
              "Expect: 100-continue\r\n\r\n");
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  std::string head = read_until(up, "\r\n\r\n");
  EXPECT_EQ(head.find("Expect"), std::string::npos) << head;
  EXPECT_EQ(read_until(c, "\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
  send_all(c, "data");
  EXPECT_EQ(read_n(up, 4), "data");
  send_all(up, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(read_until(c, "\r\n\r\n"), "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
}

TEST_F(DoorHttpProxy, AbsoluteFormRefusedDialIs502) {
  fake_.refusal = CloseReason::kConnectRefused;
  start(Protocol::kHttpProxy);
  int c = connect_client();
  send_all(c, "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n");
  std::string response = read_all(c);
  EXPECT_EQ(status_line(response), "HTTP/1.1 502 Bad Gateway");
  EXPECT_NE(response.find("connection refused by origin.test:80"), std::string::npos) << response;
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kConnectRefused), 1u);
  EXPECT_EQ(fake_.last().destination, "origin.test:80");
}

TEST_F(DoorHttpProxy, SilentOriginIsAnswered504) {
  config_.response_timeout = Duration{300};
  upstream_listener();
  start(Protocol::kHttpProxy);
  int c = connect_client();
  send_all(c, "GET http://origin.test/slow HTTP/1.1\r\nHost: origin.test\r\n\r\n");
  int up = accept_upstream();
  ASSERT_GE(up, 0);
  EXPECT_FALSE(read_until(up, "\r\n\r\n").empty());  // the request went out; no answer comes
  auto begin = std::chrono::steady_clock::now();
  EXPECT_EQ(status_line(read_all(c)), "HTTP/1.1 504 Gateway Timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1s);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kResponseTimeout), 1u);
}

TEST_F(DoorHttpProxy, UsersNeedProxyAuthorization) {
  config_.users = {{"alice", "secret"}};
  upstream_listener();
  start(Protocol::kHttpProxy);
  int c = connect_client();
  send_all(c, "CONNECT example.test:443 HTTP/1.1\r\n\r\n");
  std::string response = read_all(c);
  EXPECT_EQ(status_line(response), "HTTP/1.1 407 Proxy Authentication Required");
  EXPECT_NE(response.find("Proxy-Authenticate: Basic realm=\"ugate\"\r\n"), std::string::npos);

  c = connect_client();  // alice:wrong
  send_all(c, "CONNECT example.test:443 HTTP/1.1\r\nProxy-Authorization: Basic YWxpY2U6d3Jvbmc=\r\n\r\n");
  EXPECT_EQ(status_line(read_all(c)), "HTTP/1.1 407 Proxy Authentication Required");
  ASSERT_TRUE(wait_closed(2)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kAuthFailed), 2u);
  EXPECT_EQ(fake_.calls, 0);

  c = connect_client();  // alice:secret
  send_all(c, "CONNECT example.test:443 HTTP/1.1\r\nProxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\n\r\n");
  ASSERT_GE(accept_upstream(), 0);
  EXPECT_EQ(read_until(c, "\r\n\r\n"), "HTTP/1.1 200 Connection established\r\n\r\n");
  ASSERT_EQ(fake_.calls, 1);
  EXPECT_EQ(fake_.last().user, "alice");
}

TEST_F(DoorHttpProxy, AllowListRefusesOtherDestinationsWithoutDialling) {
  config_.allow = Router({Route{{"ok.test", 443}, {}, nullptr}});
  start(Protocol::kHttpProxy);
  int c = connect_client();
  send_all(c, "CONNECT ok.test:22 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(status_line(read_all(c)), "HTTP/1.1 403 Forbidden");
  c = connect_client();
  send_all(c, "GET http://other.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n");
  EXPECT_EQ(status_line(read_all(c)), "HTTP/1.1 403 Forbidden");
  ASSERT_TRUE(wait_closed(2)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kNotAllowed), 2u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorHttpProxy, BadRequestsAre400AndNothingIsDialled) {
  start(Protocol::kHttpProxy);
  const char* requests[] = {
      "HELLO THERE\r\n\r\n",                               // not HTTP
      "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",            // origin form: not a proxy request
      "CONNECT example.test HTTP/1.1\r\n\r\n",             // no port
      "GET https://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",  // https goes through CONNECT
  };
  uint64_t n = 0;
  for (const char* request : requests) {
    int c = connect_client();
    send_all(c, request);
    ssize_t end = 1;
    EXPECT_EQ(status_line(read_all(c, &end)), "HTTP/1.1 400 Bad Request") << request;
    EXPECT_EQ(end, 0) << request;
    ASSERT_TRUE(wait_closed(++n)) << reasons();
  }
  EXPECT_EQ(closed_by(CloseReason::kBadRequest), n);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorHttpProxy, OversizedHeadIs431) {
  start(Protocol::kHttpProxy);
  int c = connect_client();
  std::string big = "GET http://a.test/ HTTP/1.1\r\nX-Big: " + std::string(40 * 1024, 'x') + "\r\n\r\n";
  ::send(c, big.data(), big.size(), MSG_NOSIGNAL);
  EXPECT_EQ(status_line(read_all(c)), "HTTP/1.1 431 Request Header Fields Too Large");
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kBadRequest), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

TEST_F(DoorHttpProxy, SlowClientHitsSniffTimeout) {
  start(Protocol::kHttpProxy);
  int c = connect_client();
  auto begin = std::chrono::steady_clock::now();
  send_all(c, "CONNECT example.te");  // and nothing more
  ssize_t end = 1;
  read_all(c, &end);
  EXPECT_EQ(end, -1) << "cut with a reset";
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1s);
  ASSERT_TRUE(wait_closed(1)) << reasons();
  EXPECT_EQ(closed_by(CloseReason::kSniffTimeout), 1u);
  EXPECT_EQ(fake_.calls, 0);
}

}  // namespace
}  // namespace ugate

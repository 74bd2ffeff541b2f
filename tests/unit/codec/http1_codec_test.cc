#include "codec/http1_codec.h"

#include <gtest/gtest.h>

#include <string>

namespace ugate::http1 {
namespace {

std::span<const uint8_t> bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
// The head is malformed (an error, not a prefix that needs more).
bool failed(const Result<Head, Error>& r) { return !r && !r.need_more(); }

TEST(Http1Codec, RequestHeadInEveryPrefix) {
  std::string head =
      "POST http://a.test:8080/p?q=1 HTTP/1.1\r\nHost: a.test:8080\r\nContent-Length: 5\r\n"
      "Proxy-Connection: Keep-Alive\r\n\r\nhello";
  for (size_t n = 0; n < head.size() - 5; ++n)
    EXPECT_EQ(parse_request_head(bytes(head).first(n)).error(), Error::kNeedMore) << n;
  auto p = parse_request_head(bytes(head));
  ASSERT_TRUE(p) << to_string(p.error());
  EXPECT_EQ(p->size, head.size() - 5);
  EXPECT_EQ(p->method, "POST");
  EXPECT_EQ(p->target, "http://a.test:8080/p?q=1");
  EXPECT_EQ(p->minor, 1);
  ASSERT_EQ(p->headers.size(), 3u);
  EXPECT_EQ(*p->find("content-length"), "5");
  EXPECT_TRUE(p->lists("PROXY-CONNECTION", "keep-alive"));
  auto f = request_framing(*p);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, BodyKind::kLength);
  EXPECT_EQ(f->length, 5u);
}

TEST(Http1Codec, GarbageFailsBeforeTheHeadEnds) {
  EXPECT_TRUE(failed(parse_request_head(bytes("\x16\x03\x01\x02\x00")))) << "a TLS record";
  EXPECT_TRUE(failed(parse_request_head(bytes("GET / HTTP/1.1\nHost: x\n\n")))) << "bare LF";
  EXPECT_TRUE(failed(parse_request_head(bytes("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"))));
  EXPECT_TRUE(failed(parse_request_head(bytes("GET / HTTP/1.1\r\nHost : x\r\n\r\n"))))
      << "space before the colon";
  EXPECT_TRUE(failed(parse_request_head(bytes("GET / HTTP/2.0\r\n\r\n"))));
  EXPECT_TRUE(failed(parse_request_head(bytes("GET  / HTTP/1.1\r\n\r\n"))));
  EXPECT_TRUE(failed(parse_request_head(bytes("G(T / HTTP/1.1\r\n\r\n"))));
  EXPECT_TRUE(failed(parse_request_head(bytes("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"))));
  // A stray CRLF before the request line (after an earlier body) is allowed.
  EXPECT_TRUE(parse_request_head(bytes("\r\nGET / HTTP/1.0\r\n\r\n")));
}

TEST(Http1Codec, RequestFramingRefusesAmbiguity) {
  auto framing = [](std::string headers) {
    auto p = parse_request_head(bytes("POST http://a/ HTTP/1.1\r\n" + headers + "\r\n"));
    EXPECT_TRUE(p) << to_string(p.error());
    return request_framing(*p);
  };
  EXPECT_EQ(framing("Transfer-Encoding: gzip, chunked\r\n")->kind, BodyKind::kChunked);
  EXPECT_FALSE(framing("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n")) << "both";
  EXPECT_FALSE(framing("Transfer-Encoding: gzip\r\n")) << "not ending in chunked";
  EXPECT_FALSE(framing("Content-Length: 3\r\nContent-Length: 4\r\n"));
  EXPECT_EQ(framing("Content-Length: 3, 3\r\n")->length, 3u);
  EXPECT_FALSE(framing("Content-Length: -1\r\n"));
  EXPECT_FALSE(framing("Content-Length: 1x\r\n"));
  EXPECT_EQ(framing("")->kind, BodyKind::kNone);
  EXPECT_EQ(framing("Content-Length: 0\r\n")->kind, BodyKind::kNone);
}

TEST(Http1Codec, ResponseHeadAndFraming) {
  auto p = parse_response_head(bytes("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(p) << to_string(p.error());
  EXPECT_EQ(p->status, 200);
  EXPECT_EQ(p->reason, "OK");
  EXPECT_EQ(response_framing(*p, "GET")->length, 12u);
  EXPECT_EQ(response_framing(*p, "HEAD")->kind, BodyKind::kNone);
  EXPECT_TRUE(is_hop_by_hop(*p, "connection"));
  EXPECT_FALSE(is_hop_by_hop(*p, "content-length"));

  p = parse_response_head(bytes("HTTP/1.0 204\r\n\r\n"));
  ASSERT_TRUE(p) << to_string(p.error());
  EXPECT_EQ(p->reason, "");
  EXPECT_EQ(response_framing(*p, "GET")->kind, BodyKind::kNone);
  p = parse_response_head(bytes("HTTP/1.1 200 OK\r\n\r\n"));
  EXPECT_EQ(response_framing(*p, "GET")->kind, BodyKind::kUntilClose);
  p = parse_response_head(bytes("HTTP/1.1 200 OK\r\nConnection: x-secret\r\nX-Secret: 1\r\n\r\n"));
  EXPECT_TRUE(is_hop_by_hop(*p, "x-secret")) << "named by Connection";
  EXPECT_TRUE(failed(parse_response_head(bytes("HTTP/1.1 20 OK\r\n\r\n"))));
  EXPECT_TRUE(failed(parse_response_head(bytes("ICY 200 OK\r\n\r\n"))));
}

TEST(Http1Codec, ChunkedScannerFindsTheEndAcrossAnySplit) {
  const std::string body = "5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\n";
  const std::string next = "GET http://next/ HTTP/1.1\r\n";
  const std::string all = body + next;
  for (size_t split = 0; split <= all.size(); ++split) {
    ChunkedScanner s;
    size_t a = *s.scan(bytes(all).first(split));
    size_t b = s.done() ? 0 : *s.scan(bytes(all).subspan(a));
    EXPECT_TRUE(s.done()) << split;
    EXPECT_EQ(a + b, body.size()) << split;
  }
  ChunkedScanner bad;
  EXPECT_EQ(bad.scan(bytes("5\r\nhelloXX")).error(), Error::kBadChunkedBody) << "data not followed by CRLF";
  ChunkedScanner huge;
  EXPECT_EQ(huge.scan(bytes("fffffffffffffffff\r\n")).error(), Error::kBadChunkedBody);
  ChunkedScanner no_digits;
  EXPECT_EQ(no_digits.scan(bytes(";x\r\n")).error(), Error::kBadChunkedBody);
}

TEST(Http1Codec, AbsoluteUriAndAuthority) {
  auto u = parse_absolute_uri("http://Example.test/a/b?c#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->destination, (HostPort{"Example.test", 80}));
  EXPECT_EQ(u->authority, "Example.test");
  EXPECT_EQ(u->path, "/a/b?c");
  u = parse_absolute_uri("HTTP://[::1]:8080");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->destination, (HostPort{"::1", 8080}));
  EXPECT_EQ(u->path, "/");
  EXPECT_EQ(parse_absolute_uri("http://[::1]/x")->destination.port, 80);
  EXPECT_EQ(parse_absolute_uri("http://h?q")->path, "/?q");
  EXPECT_FALSE(parse_absolute_uri("https://a/"));
  EXPECT_FALSE(parse_absolute_uri("/relative"));
  EXPECT_FALSE(parse_absolute_uri("http://user:pw@a/"));
  EXPECT_FALSE(parse_absolute_uri("http://a:99999/"));
  EXPECT_FALSE(parse_absolute_uri("http:///x"));
  EXPECT_EQ(*parse_authority("a.test:443"), (HostPort{"a.test", 443}));
  EXPECT_EQ(*parse_authority("[::1]:22"), (HostPort{"::1", 22}));
  EXPECT_FALSE(parse_authority("a.test"));
}

}  // namespace
}  // namespace ugate::http1

"""The HTTP proxy door (protocol: http-proxy): curl as the client, python's http.server and openssl
s_server as origins, and a raw client for bad input, pipelining and the error answers."""
import hashlib
import os
import socket
import subprocess
import threading
import time
import unittest

from harness import HttpOrigin, Ugate, closed_port, curl, listening_port, recv_all, wait_until, temp_dir
from test_tls_sni import make_cert


def proxy_listener(name="web", **opts):
    extra = "".join(f", {k}: {v}" for k, v in opts.items())
    return f"{{ name: {name}, address: '127.0.0.1:0', protocol: http-proxy{extra} }}"


def exchange(port, data, timeout=5):
    """Sends `data` on a new connection to the proxy, half-closes, returns everything it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return recv_all(s)


class HttpProxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin = HttpOrigin("127.0.0.1")
        cls.other = HttpOrigin("127.0.0.1")
        cls.dir = temp_dir("ugate-http-proxy-")

    @classmethod
    def tearDownClass(cls):
        cls.origin.close()
        cls.other.close()

    def setUp(self):
        self.origin.requests.clear()
        self.other.requests.clear()

    def test_get_keep_alive_across_hosts_and_hop_by_hop_headers(self):
        o, p = self.origin.port, self.other.port
        with Ugate(f"[ {proxy_listener()} ]") as ug:
            port = ug.port("web")
            urls = [f"http://127.0.0.1:{o}/one", f"http://127.0.0.1:{o}/two?size=100000", f"http://localhost:{p}/three"]
            code, out, err = curl("-v", "-x", f"http://127.0.0.1:{port}", *urls)
            self.assertEqual(code, 0, err)
            self.assertEqual(out, f"origin {o} GET /one\n".encode() + f"origin {o} GET /two?size=100000\n".encode() +
                             b"x" * 100000 + f"origin {p} GET /three\n".encode())
            self.assertEqual(err.count("Re-using existing connection"), 2, "one client connection for all three")
            (m1, path1, h1, port1), (_, _, _, port2) = self.origin.requests
            self.assertEqual((m1, path1), ("GET", "/one"), "origin form upstream")
            self.assertEqual(port1, port2, "the upstream connection was kept for the second request")
            self.assertEqual(h1["Host"], f"127.0.0.1:{o}")
            self.assertNotIn("Proxy-Connection", h1)
            self.assertEqual(h1["Via"], "1.1 ugate")
            self.assertEqual(self.other.requests[0][2]["Host"], f"localhost:{p}")
            ug.stop()
            lines = ug.access_lines()
            self.assertEqual(len(lines), 3, lines)
            self.assertEqual(len({l.split(" id=")[1].split()[0] for l in lines}), 1, "one stream, three requests")
            self.assertTrue(all("mode=copy" in l and "result=done" in l for l in lines), lines)
            self.assertIn(f"dst=localhost:{p} ", lines[2])

    def test_post_bodies_with_length_expect_and_chunked(self):
        body = os.urandom(3 << 20)  # past 1 MiB curl sends Expect: 100-continue
        path = os.path.join(self.dir, "body.bin")
        with open(path, "wb") as f:
            f.write(body)
        want = f"posted {len(body)} {hashlib.sha256(body).hexdigest()}\n".encode()
        url = f"http://127.0.0.1:{self.origin.port}/upload"
        with Ugate(f"[ {proxy_listener()} ]") as ug:
            port = ug.port("web")
            start = time.monotonic()
            code, out, err = curl("-v", "-x", f"http://127.0.0.1:{port}", "--data-binary", f"@{path}", url)
            self.assertEqual((code, out), (0, want), err)
            self.assertIn("HTTP/1.1 100 Continue", err)
            self.assertLess(time.monotonic() - start, 5)
            self.assertNotIn("Expect", self.origin.requests[-1][2], "ugate answered the Expect itself")
            code, out, err = curl("-x", f"http://127.0.0.1:{port}", "-H", "Transfer-Encoding: chunked",
                                  "--data-binary", f"@{path}", url)
            self.assertEqual((code, out), (0, want), err)
            self.assertEqual(self.origin.requests[-1][2].get("Transfer-Encoding"), "chunked")
            code, out, err = curl("-x", f"http://127.0.0.1:{port}", "--data-binary", "", url)
            self.assertEqual(out, f"posted 0 {hashlib.sha256(b'').hexdigest()}\n".encode(), err)
            wait_until(lambda: ug.metric("ugate_listener_closed_total", listener="web") == 3, what="three closed")
            self.assertGreaterEqual(ug.metric("ugate_listener_bytes_total", listener="web", direction="up"),
                                    2 * len(body))

    def test_https_through_connect_is_spliced(self):
        key, cert = make_cert(self.dir, "tls.test")
        server = subprocess.Popen(["openssl", "s_server", "-quiet", "-www", "-accept", "127.0.0.1:0",
                                   "-key", key, "-cert", cert], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            tls_port = listening_port(server, "s_server")
            with Ugate(f"[ {proxy_listener()} ]") as ug:
                port = ug.port("web")
                code, out, err = curl("-k", "-v", "-x", f"http://127.0.0.1:{port}", f"https://127.0.0.1:{tls_port}/")
                self.assertEqual(code, 0, err)
                self.assertIn(b"s_server", out)
                self.assertIn("HTTP/1.1 200 Connection established", err)
                ug.stop()
                line = ug.access_lines()[-1]
                self.assertIn(f"dst=127.0.0.1:{tls_port} ", line)
                self.assertIn("mode=splice", line)
                self.assertIn("result=done", line)
        finally:
            server.kill()
            server.wait()

    def test_refused_upstream_is_502_and_a_refused_tunnel_too(self):
        closed = closed_port(self.addCleanup)
        with Ugate(f"[ {proxy_listener()} ]") as ug:
            port = ug.port("web")
            code, out, err = curl("-w", "%{http_code}", "-x", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{closed}/")
            self.assertTrue(out.endswith(b"502"), out)
            self.assertIn(f"connection refused by 127.0.0.1:{closed}".encode(), out)
            code, out, err = curl("-k", "-x", f"http://127.0.0.1:{port}", f"https://127.0.0.1:{closed}/")
            self.assertNotEqual(code, 0)
            self.assertIn("502", err)
            answer = exchange(port, b"GET http://nope.invalid/ HTTP/1.1\r\nHost: nope.invalid\r\n\r\n")
            self.assertTrue(answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"), answer)
            self.assertIn(b"cannot resolve nope.invalid", answer)
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="web", reason="connect_refused") == 2,
                       what="two connect_refused")

    def test_upstream_without_a_response_is_502_and_the_gate_lives_on(self):
        # An origin that closes without answering, and one that answers garbage: each a 502. The
        # first once crashed the process (a ?: in a co_await expression, freed twice by GCC 12).
        with socket.socket() as origin:
            origin.bind(("127.0.0.1", 0))
            origin.listen(16)
            answers = iter([b"", b"SSH-2.0-not-http\r\n\r\n"] * 3)

            def serve():
                for answer in answers:
                    c, _ = origin.accept()
                    with c:
                        c.recv(65536)
                        c.sendall(answer)
            server = threading.Thread(target=serve, daemon=True)
            server.start()
            target = f"127.0.0.1:{origin.getsockname()[1]}"
            with Ugate(f"[ {proxy_listener()} ]") as ug:
                port = ug.port("web")
                for _ in range(3):
                    answer = exchange(port, f"GET http://{target}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    self.assertTrue(answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"), answer)
                    self.assertIn(b"the upstream closed without a response", answer)
                    answer = exchange(port, f"GET http://{target}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    self.assertTrue(answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"), answer)
                    self.assertIn(b"invalid response", answer)
                self.assertTrue(ug.ready())
                self.assertIsNone(ug.proc.poll(), ug.log())
            server.join(5)

    def test_origin_that_never_answers_is_504_after_response_timeout(self):
        # Held for idle_timeout (1 h) before: the origin accepts and reads, and says nothing.
        with socket.socket() as origin:
            origin.bind(("127.0.0.1", 0))
            origin.listen(16)
            target = f"127.0.0.1:{origin.getsockname()[1]}"
            with Ugate(f"[ {proxy_listener(response_timeout='600ms')} ]") as ug:
                port = ug.port("web")
                for body in (b"", b"Content-Length: 5\r\n\r\nhello"):
                    start = time.monotonic()
                    head = f"POST http://{target}/ HTTP/1.1\r\nHost: x\r\n".encode()
                    answer = exchange(port, head + (body or b"Content-Length: 0\r\n\r\n"))
                    self.assertTrue(answer.startswith(b"HTTP/1.1 504 Gateway Timeout\r\n"), answer)
                    self.assertIn(f"no response from {target} within 600ms".encode(), answer)
                    self.assertLess(time.monotonic() - start, 3)
                wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="web",
                                             reason="response_timeout") == 2, what="two response_timeout")
                # An answer that comes in time is not cut by it, however long its body takes after.
                code, out, err = curl("-x", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{self.origin.port}/ok")
                self.assertEqual(code, 0, err)

    def test_invalid_chunked_body_is_400(self):
        o = self.origin.port
        with Ugate(f"[ {proxy_listener()} ]") as ug:
            port = ug.port("web")
            for body in (b"zz\r\nhello\r\n0\r\n\r\n", b"5\r\nhelloX\r\n0\r\n\r\n"):
                answer = exchange(port, f"POST http://127.0.0.1:{o}/ HTTP/1.1\r\nHost: x\r\n"
                                        "Transfer-Encoding: chunked\r\n\r\n".encode() + body)
                self.assertTrue(answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer)
                self.assertIn(b"invalid chunked request body", answer)
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="web", reason="bad_request") == 2,
                       what="two bad_request")

    def test_the_nodes_admin_port_is_not_a_destination(self):
        # /debug/config and /metrics were reachable through a proxy door bound to a network.
        listeners = f"[ {proxy_listener()}, {proxy_listener(name='ops', reach_admin='true')} ]"
        with Ugate(listeners) as ug:
            port, allowed = ug.port("web"), ug.port("ops")
            admin = ug.admin_port
            for host in ("127.0.0.1", "localhost"):
                code, out, err = curl("-w", "%{http_code}", "-x", f"http://127.0.0.1:{port}",
                                      f"http://{host}:{admin}/debug/config")
                self.assertTrue(out.endswith(b"403"), out)
                self.assertIn(b"is not allowed through this proxy", out)
            answer = exchange(port, f"CONNECT 127.0.0.1:{admin} HTTP/1.1\r\n\r\n".encode())
            self.assertTrue(answer.startswith(b"HTTP/1.1 403 Forbidden\r\n"), answer)
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="web", reason="not_allowed") == 3,
                       what="three not_allowed")
            # Other ports of the same host still work; a listener with reach_admin reaches it.
            code, out, err = curl("-x", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{self.origin.port}/")
            self.assertEqual(code, 0, err)
            code, out, err = curl("-x", f"http://127.0.0.1:{allowed}", f"http://127.0.0.1:{admin}/metrics")
            self.assertEqual(code, 0, err)
            self.assertIn(b"ugate_build_info", out)

    def test_connect_timeout_is_504(self):
        blackhole = socket.socket()
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(0)
        filler = socket.create_connection(blackhole.getsockname())  # the accept queue is full: SYNs are dropped
        target = f"127.0.0.1:{blackhole.getsockname()[1]}"
        with Ugate(f"[ {proxy_listener(connect_timeout='300ms')} ]") as ug:
            port = ug.port("web")
            start = time.monotonic()
            answer = exchange(port, f"GET http://{target}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            self.assertTrue(answer.startswith(b"HTTP/1.1 504 Gateway Timeout\r\n"), answer)
            self.assertLess(time.monotonic() - start, 2)
            answer = exchange(port, f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
            self.assertTrue(answer.startswith(b"HTTP/1.1 504 "), answer)
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="web", reason="connect_timeout") == 2,
                       what="two connect_timeout")
        filler.close()
        blackhole.close()

    def test_bad_requests_are_400_and_counted(self):
        with Ugate(f"[ {proxy_listener(sniff_timeout='400ms')} ]") as ug:
            port = ug.port("web")
            for bad in (b"\x16\x03\x01\x00\x10garbage\r\n\r\n",
                        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
                        b"POST http://127.0.0.1:1/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                        b"CONNECT nohost HTTP/1.1\r\n\r\n",
                        b"GET https://a.test/ HTTP/1.1\r\n\r\n"):
                answer = exchange(port, bad)
                self.assertTrue(answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), (bad, answer))
            answer = exchange(port, b"GET http://a/ HTTP/1.1\r\nX: " + b"y" * 40000 + b"\r\n\r\n")
            self.assertTrue(answer.startswith(b"HTTP/1.1 431 "), answer[:40])
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET http://a/ HTTP/1.1\r\nHost")  # never finished
                start = time.monotonic()
                with self.assertRaises(ConnectionResetError):
                    s.recv(1)
                self.assertLess(time.monotonic() - start, 2)
            errors = lambda reason: ug.metric("ugate_listener_errors_total", listener="web", reason=reason)
            wait_until(lambda: errors("bad_request") == 6 and errors("sniff_timeout") == 1, what="counted")
            self.assertTrue(ug.ready())

    def test_pipelined_requests_answered_in_order(self):
        o = self.origin.port
        with Ugate(f"[ {proxy_listener()} ]") as ug:
            port = ug.port("web")
            request = lambda path, last=False: (f"GET http://127.0.0.1:{o}{path} HTTP/1.1\r\nHost: x\r\n" +
                                                ("Connection: close\r\n" if last else "") + "\r\n").encode()
            answer = exchange(port, request("/a") + request("/b") + request("/c", last=True))
            self.assertEqual(answer.count(b"HTTP/1.1 200 OK"), 3, answer)
            self.assertLess(answer.index(b"GET /a"), answer.index(b"GET /b"))
            self.assertLess(answer.index(b"GET /b"), answer.index(b"GET /c"))
            self.assertIn(b"Connection: close", answer)

    def test_proxy_authorization_and_allow_list(self):
        users = "[ { name: alice, password: 's3cret' } ]"
        allow = f"[ {{ host: 127.0.0.1, port: {self.origin.port} }} ]"
        url = f"http://127.0.0.1:{self.origin.port}/private"
        with Ugate(f"[ {proxy_listener(users=users, allow=allow)} ]") as ug:
            port = ug.port("web")
            code, out, err = curl("-v", "-x", f"http://127.0.0.1:{port}", url)
            self.assertIn("< HTTP/1.1 407", err)
            self.assertIn('Proxy-Authenticate: Basic realm="ugate"', err)
            code, out, err = curl("-x", f"http://127.0.0.1:{port}", "--proxy-user", "alice:wrong", url)
            self.assertIn(b"proxy authentication required", out)
            code, out, err = curl("-x", f"http://127.0.0.1:{port}", "--proxy-user", "alice:s3cret", url)
            self.assertEqual(code, 0, err)
            self.assertIn(b"GET /private", out)
            self.assertNotIn("Proxy-Authorization", self.origin.requests[-1][2], "credentials stay with ugate")
            code, out, err = curl("-w", "%{http_code}", "-x", f"http://127.0.0.1:{port}", "--proxy-user",
                                  "alice:s3cret", f"http://127.0.0.1:{self.other.port}/")
            self.assertTrue(out.endswith(b"403"), out)
            errors = lambda reason: ug.metric("ugate_listener_errors_total", listener="web", reason=reason)
            wait_until(lambda: errors("auth_failed") == 2 and errors("not_allowed") == 1, what="counted")
            ug.stop()
            self.assertTrue(any("user=alice" in l and "result=done" in l for l in ug.access_lines()))
            self.assertNotIn("s3cret", ug.log() + "".join(ug.access_lines()))


if __name__ == "__main__":
    unittest.main()

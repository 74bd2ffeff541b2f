"""accept_proxy_protocol: HAProxy (send-proxy, send-proxy-v2) in front of a ugate tcp listener, with an
echo origin behind. The listener trusts only HAProxy's source address (127.0.0.2): the client HAProxy
names is the stream's source in the access log and /debug/streams; a direct client's PROXY line is
never read; a trusted source without a header is refused."""
import contextlib
import json
import os
import socket
import subprocess
import unittest

from harness import Server, Ugate, access_fields, echo, recv_all, wait_until, temp_dir

BALANCER = "127.0.0.2"  # HAProxy's source address towards ugate (all of 127/8 is loopback)


class AcceptProxyProtocol(unittest.TestCase):
    def setUp(self):
        self.dir = temp_dir("ugate-pp-")
        self.origin = Server(echo)
        listener = (f"{{ name: lb-in, address: '127.0.0.1:0', protocol: tcp, forward: '127.0.0.1:{self.origin.port}', "
                    f"accept_proxy_protocol: {{ from: ['{BALANCER}/32'] }} }}")
        self.ug = Ugate(f"[ {listener} ]")
        self.ug.start()

    def tearDown(self):
        self.ug.__exit__(None, None, None)
        self.origin.close()

    @contextlib.contextmanager
    def haproxy(self, send):
        """HAProxy on a port of its own, relaying each connection to ugate with `send` (its server
        keywords); yields the port. It takes no port 0: it listens on a socket bound here."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        cfg = os.path.join(self.dir, f"haproxy-{port}.cfg")
        with open(cfg, "w") as f:
            f.write("global\n  nbthread 1\n"
                    "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n"
                    f"frontend fe\n  bind fd@{listener.fileno()}\n  default_backend be\n"
                    f"backend be\n  server ug 127.0.0.1:{self.ug.port('lb-in')} {send} source {BALANCER}\n")
        log = open(os.path.join(self.dir, f"haproxy-{port}.log"), "w")
        hp = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=log, stderr=log, pass_fds=[listener.fileno()])
        listener.close()  # haproxy's now; connections wait in its backlog until it takes them
        try:
            yield port
        finally:
            hp.terminate()
            hp.wait(10)
            log.close()

    def echo_through(self, port, data=b"hello through the balancer"):
        """(the client's own address, what came back) of one connection to `port`."""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            client = "%s:%d" % c.getsockname()
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            return client, recv_all(c)

    def test_the_client_haproxy_names_is_the_streams_source(self):
        seen = []  # (client, HAProxy's frontend address) per connection
        for send in ("send-proxy", "send-proxy-v2", "send-proxy-v2 proxy-v2-options crc32c"):
            with self.haproxy(send) as port:
                client, got = self.echo_through(port)
                self.assertEqual(got, b"hello through the balancer", send)
                seen.append((client, f"127.0.0.1:{port}"))
                if send == "send-proxy":
                    # While a stream is open, /debug/streams shows the client too.
                    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                        c.sendall(b"x")
                        self.assertEqual(c.recv(1), b"x")
                        held = "%s:%d" % c.getsockname()
                        streams = json.loads(self.ug.get("/debug/streams")[1])
                        mine = [s for s in streams if s["listener"] == "lb-in" and s["src"] == held]
                        self.assertEqual(len(mine), 1, streams)
                        self.assertEqual(mine[0]["orig_dst"], f"127.0.0.1:{port}")
                        self.assertEqual(mine[0]["phase"], "proxying")
        self.assertEqual(self.ug.stop(), 0)
        lines = access_fields(self.ug, lambda f: f["listener"] == "lb-in")
        logged = {(f["src"], f["orig_dst"]) for f in lines if f["result"] == "done"}
        for client, frontend in seen:
            self.assertIn((client, frontend), logged, lines)
        self.assertNotIn(BALANCER, " ".join(f["src"] for f in lines), "never the balancer's address")
        self.assertEqual(len(lines), len(seen) + 1, "one line per stream, none for the headers")

    def test_an_untrusted_client_cannot_choose_its_address(self):
        spoof = b"PROXY TCP4 203.0.113.9 198.51.100.1 4242 443\r\nhello"
        client, got = self.echo_through(self.ug.port("lb-in"), spoof)
        self.assertEqual(got, spoof, "not read: the origin gets the line as the client's own bytes")
        self.assertEqual(self.ug.stop(), 0)
        [line] = access_fields(self.ug, lambda f: f["listener"] == "lb-in")
        self.assertEqual(line["src"], client)
        self.assertEqual(line["orig_dst"], "-")
        self.assertEqual(line["result"], "done")

    def test_a_trusted_source_without_a_header_is_refused(self):
        with socket.socket() as c:
            c.bind((BALANCER, 0))
            c.connect(("127.0.0.1", self.ug.port("lb-in")))
            c.settimeout(10)
            c.sendall(b"GET / HTTP/1.1\r\n\r\n")
            with self.assertRaises(ConnectionResetError):
                c.recv(1)
        wait_until(lambda: self.ug.metric("ugate_listener_errors_total", listener="lb-in", reason="sniff_failed") == 1,
                   what="the refusal counted")
        self.assertIn("accept_proxy_protocol.from", self.ug.log(), "the log says why")
        self.assertEqual(self.origin.threads, [], "nothing reached the origin")
        self.assertEqual(self.ug.stop(), 0)
        [line] = access_fields(self.ug, lambda f: f["listener"] == "lb-in")
        self.assertEqual(line["result"], "sniff_failed")
        self.assertTrue(line["src"].startswith(BALANCER + ":"))


class SourceRateLimitBehindABalancer(unittest.TestCase):
    """source_rate_limit counts the client a trusted balancer names, never the balancer itself; a
    direct client is counted by its own address."""

    def test_the_named_client_is_limited_not_the_balancer(self):
        origin = Server(echo)
        listener = (f"{{ name: lb-rl, address: '127.0.0.1:0', protocol: tcp, forward: '127.0.0.1:{origin.port}', "
                    f"accept_proxy_protocol: {{ from: ['{BALANCER}/32'] }}, "
                    "source_rate_limit: { per_second: 1, burst: 2 } }")
        with Ugate(f"[ {listener} ]") as ug:
            def echoed(source, client=None):
                with socket.socket() as c:
                    c.settimeout(10)
                    c.bind((source, 0))
                    c.connect(("127.0.0.1", ug.port("lb-rl")))
                    try:
                        if client:
                            c.sendall(f"PROXY TCP4 {client} 198.51.100.1 4242 443\r\n".encode())
                        c.sendall(b"x")
                        return c.recv(1) == b"x"
                    except ConnectionResetError:
                        return False

            self.assertEqual([echoed(BALANCER, "192.0.2.1") for _ in range(3)], [True, True, False])
            self.assertTrue(echoed(BALANCER, "192.0.2.2"), "another client, through the same balancer")
            self.assertEqual([echoed("127.0.0.3") for _ in range(3)], [True, True, False], "a direct client")
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="lb-rl", reason="rate_limited") == 2,
                       what="both refusals counted")
            self.assertEqual(ug.stop(), 0)
            refused = access_fields(ug, lambda f: f["listener"] == "lb-rl" and f["result"] == "rate_limited")
            self.assertEqual([f["src"].split(":")[0] for f in refused], ["192.0.2.1"],
                             "the door's refusal is logged with the named client; the accept loop's has no stream")
        origin.close()


if __name__ == "__main__":
    unittest.main()

"""The TCP forward door, end to end through the real binary."""
import json
import socket
import threading
import time
import unittest

from harness import (Server, Ugate, both_ways_client, both_ways_server, closed_port, echo, recv_all, tcp_listener_yaml,
                     wait_until)

MIB = 1 << 20


class BulkTransfer(unittest.TestCase):
    def transfer(self, splice):
        total = 256 * MIB
        handler, server_side = both_ways_server(total, seed=2)
        server = Server(handler)
        with Ugate(f"[ {tcp_listener_yaml('bulk', 0, f'127.0.0.1:{server.port}', splice=str(splice).lower())} ]") as ug:
            with socket.create_connection(("127.0.0.1", ug.port("bulk"))) as c:
                sent, got = both_ways_client(c, total, 1)
            wait_until(lambda: "received" in server_side and "sent" in server_side, what="server done")
            self.assertEqual(server.errors, [])
            self.assertEqual(server_side["received"], (total, sent), "upstream got the client's bytes")
            self.assertEqual(got, (total, server_side["sent"]), "client got the upstream's bytes")
            wait_until(lambda: ug.metric("ugate_listener_closed_total", listener="bulk") == 1, what="stream closed")
            self.assertEqual(ug.metric("ugate_listener_bytes_total", listener="bulk", direction="up"), total)
            self.assertEqual(ug.metric("ugate_listener_bytes_total", listener="bulk", direction="down"), total)
            mode = "splice" if splice else "copy"
            self.assertEqual(ug.metric("ugate_listener_streams_total", listener="bulk", mode=mode), 1)
            spliced = ug.metric("ugate_listener_spliced_bytes_total", listener="bulk")
            if splice:  # all but the first buffer or so each way
                self.assertGreater(spliced, 2 * total * 0.99)
            else:
                self.assertEqual(spliced, 0)
            self.assertEqual(ug.stop(), 0)
            line = ug.access_lines()[-1]
            self.assertIn(f"mode={mode}", line)
            self.assertIn(f"bytes_up={total} bytes_down={total} result=done", line)
        server.close()

    def test_256_mib_each_way_spliced(self):
        self.transfer(splice=True)

    def test_256_mib_each_way_copied(self):
        self.transfer(splice=False)


class ForwardBehaviour(unittest.TestCase):
    def test_half_close_lets_the_reply_through(self):
        def handler(conn):
            request = recv_all(conn)  # until the client's EOF
            conn.sendall(b"reply to " + request)

        server = Server(handler)
        with Ugate(f"[ {tcp_listener_yaml('hc', 0, f'127.0.0.1:{server.port}')} ]") as ug:
            with socket.create_connection(("127.0.0.1", ug.port("hc"))) as c:
                c.sendall(b"question")
                c.shutdown(socket.SHUT_WR)
                c.settimeout(5)
                self.assertEqual(recv_all(c), b"reply to question")
        server.close()

    def test_upstream_refused_closes_the_client_quickly_and_counts(self):
        dead = closed_port(self.addCleanup)  # nothing listens there
        with Ugate(f"[ {tcp_listener_yaml('refused', 0, f'127.0.0.1:{dead}')} ]") as ug:
            start = time.monotonic()
            with socket.create_connection(("127.0.0.1", ug.port("refused"))) as c:
                c.settimeout(5)
                with self.assertRaises(ConnectionResetError, msg="the refusal is passed on as a reset"):
                    c.recv(10)
            self.assertLess(time.monotonic() - start, 1.0)
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="refused", reason="connect_refused") == 1,
                       what="connect_refused counted")
            ug.stop()
            self.assertIn("result=connect_refused", ug.access_lines()[-1])

    def test_connect_timeout(self):
        # A listener whose accept queue is full drops SYNs: connects hang.
        blackhole = socket.socket()
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(0)
        filler = socket.create_connection(blackhole.getsockname())
        yaml = tcp_listener_yaml('slow', 0, f'127.0.0.1:{blackhole.getsockname()[1]}', connect_timeout='300ms')
        with Ugate(f"[ {yaml} ]") as ug:
            start = time.monotonic()
            with socket.create_connection(("127.0.0.1", ug.port("slow"))) as c:
                c.settimeout(5)
                with self.assertRaises(ConnectionResetError):
                    c.recv(10)
            elapsed = time.monotonic() - start
            self.assertGreater(elapsed, 0.25)
            self.assertLess(elapsed, 2.0)
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="slow", reason="connect_timeout") == 1,
                       what="connect_timeout counted")
        filler.close()
        blackhole.close()

    def test_idle_timeout_closes_quiet_streams_only(self):
        server = Server(echo)
        with Ugate(f"[ {tcp_listener_yaml('idle', 0, f'127.0.0.1:{server.port}', idle_timeout='600ms')} ]") as ug:
            quiet = socket.create_connection(("127.0.0.1", ug.port("idle")))
            busy = socket.create_connection(("127.0.0.1", ug.port("idle")))
            for s in (quiet, busy):
                s.sendall(b"x")
                s.settimeout(5)
                self.assertEqual(s.recv(1), b"x")
            start = time.monotonic()
            # The busy one talks every 200 ms for 1.5 s and must survive.
            while time.monotonic() - start < 1.5:
                busy.sendall(b"y")
                self.assertEqual(busy.recv(1), b"y")
                time.sleep(0.2)
            self.assertEqual(quiet.recv(1), b"", "the quiet stream was closed")
            self.assertEqual(ug.metric("ugate_listener_errors_total", listener="idle", reason="idle_timeout"), 1)
            self.assertEqual(ug.metric("ugate_listener_active_streams", listener="idle"), 1)
            quiet.close()
            busy.close()
        server.close()

    def test_metrics_debug_streams_and_access_log(self):
        def hold(conn):
            conn.sendall(b"hi")
            recv_all(conn)

        server = Server(hold)
        yaml = f"[ {tcp_listener_yaml('web', 0, f'localhost:{server.port}')} ]"
        with Ugate(yaml, access_log_format="json") as ug:
            self.assertEqual(ug.metric("ugate_listener_accepted_total", listener="web"), 0)
            c = socket.create_connection(("127.0.0.1", ug.port("web")))
            c.settimeout(5)
            self.assertEqual(c.recv(2), b"hi")
            self.assertEqual(ug.metric("ugate_listener_accepted_total", listener="web"), 1)
            self.assertEqual(ug.metric("ugate_listener_active_streams", listener="web"), 1)
            status, body = ug.get("/debug/streams")
            self.assertEqual(status, 200)
            streams = json.loads(body)
            self.assertEqual(len(streams), 1)
            s = streams[0]
            self.assertEqual(s["listener"], "web")
            self.assertEqual(s["protocol"], "tcp")
            self.assertEqual(s["phase"], "proxying")
            self.assertEqual(s["dst"], f"localhost:{server.port}")
            self.assertEqual(s["upstream"], f"127.0.0.1:{server.port}")
            self.assertEqual(s["src"], "127.0.0.1:%d" % c.getsockname()[1])
            self.assertEqual(s["bytes_down"], 2)
            self.assertEqual(s["mode"], "splice")
            c.sendall(b"abc")
            c.close()
            wait_until(lambda: ug.metric("ugate_listener_active_streams", listener="web") == 0, what="stream closed")
            self.assertEqual(ug.metric("ugate_listener_closed_total", listener="web"), 1)
            self.assertEqual(ug.metric("ugate_listener_bytes_total", listener="web", direction="up"), 3)
            self.assertEqual(ug.metric("ugate_listener_bytes_total", listener="web", direction="down"), 2)
            cfg = json.loads(ug.get("/debug/config")[1])
            self.assertEqual(cfg["listeners"][0]["routes"][0]["forward"], f"localhost:{server.port}")
            self.assertEqual(ug.get("/healthz")[0], 200)
            self.assertEqual(ug.get("/nope")[0], 404)
            self.assertEqual(ug.stop(), 0)
            entry = json.loads(ug.access_lines()[-1])
            self.assertEqual(entry["listener"], "web")
            self.assertEqual(entry["bytes_up"], 3)
            self.assertEqual(entry["bytes_down"], 2)
            self.assertEqual(entry["result"], "done")
        server.close()

    def test_ipv6_listener_and_upstream(self):
        upstream = socket.socket(socket.AF_INET6)
        upstream.bind(("::1", 0))
        upstream.listen()
        up_port = upstream.getsockname()[1]
        threading.Thread(target=lambda: echo(upstream.accept()[0]), daemon=True).start()
        yaml = f"[ {{ name: v6, address: '[::1]:0', forward: '[::1]:{up_port}' }} ]"
        with Ugate(yaml) as ug:
            with socket.create_connection(("::1", ug.port("v6"))) as c:
                c.sendall(b"over v6")
                c.settimeout(5)
                self.assertEqual(c.recv(100), b"over v6")
                streams = json.loads(ug.get("/debug/streams")[1])
                self.assertEqual(streams[0]["upstream"], f"[::1]:{up_port}")
                self.assertEqual(streams[0]["src"], f"[::1]:{c.getsockname()[1]}")
        upstream.close()

    def test_max_streams_limits_a_listener(self):
        def hold(conn):
            recv_all(conn)

        server = Server(hold)
        with Ugate(f"[ {tcp_listener_yaml('lim', 0, f'127.0.0.1:{server.port}', max_streams=1)} ]") as ug:
            first = socket.create_connection(("127.0.0.1", ug.port("lim")))
            wait_until(lambda: ug.metric("ugate_listener_active_streams", listener="lim") == 1, what="first stream")
            second = socket.create_connection(("127.0.0.1", ug.port("lim")))
            second.settimeout(5)
            try:
                got = second.recv(1)
            except ConnectionResetError:
                got = "reset"
            self.assertEqual(got, "reset")
            self.assertEqual(ug.metric("ugate_listener_errors_total", listener="lim", reason="overload"), 1)
            first.close()
            second.close()
        server.close()

    def test_max_streams_is_exact_when_a_burst_arrives_on_every_worker(self):
        # One atomic admission per stream: a burst accepted by two workers at once gets exactly
        # max_streams through, not max_streams plus what was accepted before the count caught up.
        def echo_then_hold(conn):
            data = conn.recv(1)
            if data:
                conn.sendall(data)
                recv_all(conn)

        server = Server(echo_then_hold, backlog=256)
        limit, burst = 10, 80
        with Ugate(f"[ {tcp_listener_yaml('lim', 0, f'127.0.0.1:{server.port}', max_streams=limit)} ]",
                   workers=2) as ug:
            port = ug.port("lim")
            clients = []
            for _ in range(burst):  # every connect first, so that the accepts come in one burst
                c = socket.socket()
                c.setblocking(False)
                c.connect_ex(("127.0.0.1", port))
                clients.append(c)
            served = refused = 0
            for c in clients:
                c.setblocking(True)
                c.settimeout(5)
                try:
                    c.sendall(b"x")
                    if c.recv(1) == b"x":
                        served += 1
                    else:
                        refused += 1
                except OSError:  # reset: refused at accept
                    refused += 1
            self.assertEqual((served, refused), (limit, burst - limit))
            self.assertEqual(ug.metric("ugate_listener_active_streams", listener="lim"), limit)
            self.assertEqual(ug.metric("ugate_listener_errors_total", listener="lim", reason="overload"), burst - limit)
            for c in clients:
                c.close()
            wait_until(lambda: ug.metric("ugate_listener_active_streams", listener="lim") == 0, what="all closed")
        server.close()

    def test_above_the_memory_watermark_new_streams_are_refused(self):
        # 1 MiB: below any ugate's resident size, so the gate is above it from its first reading.
        server = Server(lambda conn: conn.sendall(conn.recv(10)))
        with Ugate(f"[ {tcp_listener_yaml('ow', 0, f'127.0.0.1:{server.port}')} ]",
                   extra_yaml="overload: { memory_watermark: 1MiB }") as ug:
            wait_until(lambda: ug.metric("ugate_memory_watermark_exceeded") == 1, what="the watermark crossed")
            for _ in range(3):
                c = socket.create_connection(("127.0.0.1", ug.port("ow")))
                c.settimeout(5)
                try:
                    c.sendall(b"x")
                    got = c.recv(1)
                except ConnectionResetError:
                    got = "reset"
                self.assertIn(got, ("reset", b""))
                c.close()
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="ow", reason="memory_watermark") == 3,
                       what="each refusal counted")
            self.assertEqual(ug.log().count("is above overload.memory_watermark"), 1, "logged once")
        server.close()

    def test_source_rate_limit_refuses_a_fast_address_and_no_other(self):
        server = Server(lambda conn: conn.sendall(conn.recv(10)))

        def echoed(source):
            c = socket.socket()
            c.settimeout(5)
            try:
                c.bind((source, 0))
                c.connect(("127.0.0.1", port))
                c.sendall(b"x")
                return c.recv(1) == b"x"
            except ConnectionResetError:
                return False
            finally:
                c.close()

        limit = "{ per_second: 1, burst: 3 }"
        with Ugate(f"[ {tcp_listener_yaml('rl', 0, f'127.0.0.1:{server.port}', source_rate_limit=limit)} ]",
                   workers=2) as ug:
            port = ug.port("rl")
            # The burst is the address's across both workers, not each worker's.
            self.assertEqual([echoed("127.0.0.1") for _ in range(5)], [True, True, True, False, False])
            self.assertTrue(echoed("127.0.0.2"), "another address has its own burst")
            time.sleep(1.2)  # refusals take no token: one is back after a second
            self.assertTrue(echoed("127.0.0.1"))
            self.assertEqual(ug.metric("ugate_listener_errors_total", listener="rl", reason="rate_limited"), 2)
            self.assertEqual(ug.log().count("over source_rate_limit (1/s, burst 3)"), 1, "logged once")
        server.close()


if __name__ == "__main__":
    unittest.main()

"""HBONE (HTTP/2 CONNECT) through the real binary, driven by python3-h2."""
import json
import os
import socket
import subprocess
import threading
import unittest

import h2.errors

from h2peer import H2Client
from harness import (UGATE, Server, Ugate, both_ways_server, closed_port, free_base_port, recv_all, temp_dir,
                     wait_until)

MIB = 1 << 20


def hbone_listener(name="hb", **opts):
    extra = "".join(f", {k}: {v}" for k, v in opts.items())
    return f"{{ name: {name}, address: '127.0.0.1:0', protocol: hbone-h2c{extra} }}"


def blackhole():
    """A port whose SYNs go unanswered: a listener with a full backlog."""
    l = socket.socket()
    l.bind(("127.0.0.1", 0))
    l.listen(0)
    filler = socket.create_connection(l.getsockname())
    return l, filler


class HboneServer(unittest.TestCase):
    def gate(self, **opts):
        """ugate with the hbone listener `hb`, on a port the kernel picks: ug.port("hb")."""
        return Ugate(f"[ {hbone_listener(**opts)} ]")

    def test_python_h2_client_moves_bytes_both_ways(self):
        total = 8 * MIB
        handler, server_side = both_ways_server(total, seed=7)
        server = Server(handler)
        with self.gate() as ug:
            c = H2Client.tcp(ug.port("hb"))
            sid = c.connect(f"127.0.0.1:{server.port}")
            self.assertEqual(c.response(sid)[":status"], "200")
            sent, got = c.both_ways(sid, total, 8)
            c.close()
            wait_until(lambda: "sent" in server_side, what="upstream done")
            self.assertEqual(server_side["received"], (total, sent))
            self.assertEqual(got, (total, server_side["sent"]))
            wait_until(lambda: ug.metric("ugate_listener_closed_total", listener="hb") == 1, what="stream closed")
            self.assertEqual(ug.metric("ugate_listener_bytes_total", listener="hb", direction="up"), total)
            self.assertEqual(ug.metric("ugate_listener_bytes_total", listener="hb", direction="down"), total)
            self.assertEqual(ug.metric("ugate_mesh_connections_total", role="served"), 1)
            self.assertEqual(ug.stop(), 0)
            line = ug.access_lines()[-1]
            self.assertIn("protocol=hbone-h2c", line)
            self.assertIn(f"dst=127.0.0.1:{server.port}", line)
            self.assertIn(f"bytes_up={total} bytes_down={total} result=done", line)
        server.close()

    def test_answers_only_after_the_dial_with_status_and_reason(self):
        refused = closed_port(self.addCleanup)
        hole, filler = blackhole()
        with self.gate(connect_timeout='500ms') as ug:
            c = H2Client.tcp(ug.port("hb"))
            cases = {
                f"127.0.0.1:{refused}": ("502", "connection_refused"),
                "no-such-host.invalid:80": ("502", "dns_error"),
                f"127.0.0.1:{hole.getsockname()[1]}": ("504", "connection_timeout"),
                "no-port.example": ("400", "http_request_error"),  # no port to dial
            }
            sids = {c.connect(a): want for a, want in cases.items()}
            for sid, (status, error) in sids.items():
                h = c.response(sid)
                self.assertEqual(h[":status"], status, h)
                self.assertEqual(h.get("proxy-status"), f"ugate; error={error}")
                self.assertEqual(c.receive_all(sid), b"")
            # Not CONNECT at all.
            sid = c.conn.get_next_available_stream_id()
            from h2peer import StreamState
            c.streams[sid] = StreamState()
            c.conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":path", "/"),
                                      (":authority", "x")], end_stream=True)
            c.flush()
            self.assertEqual(c.response(sid)[":status"], "405")
            c.close()
            for reason, n in [("connect_refused", 1), ("resolve_failed", 1), ("connect_timeout", 1),
                              ("bad_request", 2)]:
                wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="hb", reason=reason) == n,
                           what=f"{reason} counted")
        hole.close()
        filler.close()

    def test_records_forwarded_baggage_and_traceparent(self):
        gate = threading.Event()

        def hold(conn):
            gate.wait(10)

        server = Server(hold)
        with self.gate() as ug:
            c = H2Client.tcp(ug.port("hb"))
            trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            sid = c.connect(f"127.0.0.1:{server.port}", [("forwarded", 'for="192.0.2.60:4711"'),
                                                          ("baggage", "k8s.namespace.name=demo"),
                                                          ("traceparent", trace), ("x-other", "not kept")])
            self.assertEqual(c.response(sid)[":status"], "200")
            streams = json.loads(ug.get("/debug/streams")[1])
            self.assertEqual(len(streams), 1)
            self.assertEqual(streams[0]["headers"], {"forwarded": 'for="192.0.2.60:4711"',
                                                     "baggage": "k8s.namespace.name=demo", "traceparent": trace})
            self.assertEqual(streams[0]["protocol"], "hbone-h2c")
            gate.set()
            c.close()
        server.close()

    def test_half_close_and_resets_cross_the_tunnel(self):
        def reply_after_eof(conn):
            request = recv_all(conn)
            conn.sendall(b"reply to " + request)

        server = Server(reply_after_eof)
        resets = {}

        def reset_after_hello(conn):
            conn.recv(5)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.close()

        resetter = Server(reset_after_hello)

        def sees_reset(conn):
            try:
                resets["upstream"] = recv_all(conn)
            except ConnectionResetError:
                resets["upstream"] = "reset"

        watcher = Server(sees_reset)
        with self.gate() as ug:
            c = H2Client.tcp(ug.port("hb"))
            a = c.connect(f"127.0.0.1:{server.port}")
            b = c.connect(f"127.0.0.1:{resetter.port}")
            w = c.connect(f"127.0.0.1:{watcher.port}")
            for sid in (a, b, w):
                self.assertEqual(c.response(sid)[":status"], "200")
            c.send(a, b"question", end=True)
            self.assertEqual(c.receive_all(a), b"reply to question")
            c.send(b, b"hello")
            self.assertEqual(c.wait_reset(b), h2.errors.ErrorCodes.CONNECT_ERROR)
            c.send(w, b"partial")
            c.reset(w)
            wait_until(lambda: "upstream" in resets, what="upstream saw the reset")
            self.assertEqual(resets["upstream"], "reset")
            c.close()
            wait_until(lambda: ug.metric("ugate_listener_closed_total", listener="hb") == 3, what="all closed")
            self.assertEqual(ug.metric("ugate_listener_errors_total", listener="hb", reason="upstream_reset"), 1)
            self.assertEqual(ug.metric("ugate_listener_errors_total", listener="hb", reason="downstream_reset"), 1)
        for s in (server, resetter, watcher):
            s.close()

    def test_garbage_ends_the_connection_and_is_counted(self):
        with self.gate() as ug:
            with socket.create_connection(("127.0.0.1", ug.port("hb"))) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                s.settimeout(5)
                while s.recv(65536):  # our GOAWAY, then EOF
                    pass
            wait_until(lambda: ug.metric("ugate_mesh_connections_closed_total", reason="protocol_error") == 1,
                       what="protocol error counted")
            self.assertEqual(ug.metric("ugate_mesh_connections_active"), 0)
            self.assertTrue(ug.ready())
            self.assertIn("protocol_error", ug.log())

    def test_embedded_default_serves_h2c_on_base_plus_9(self):
        base = free_base_port()
        server = Server(lambda conn: conn.sendall(b"hi"))
        state = temp_dir("ugate-it-")
        env = dict(os.environ, UGATE_STATE_DIR=state)
        proc = subprocess.Popen([UGATE, "--base-port", str(base)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env)
        try:
            wait_until(lambda: self._open(base + 9), what="h2c port")
            c = H2Client.tcp(base + 9)
            sid = c.connect(f"127.0.0.1:{server.port}")
            self.assertEqual(c.response(sid)[":status"], "200")
            self.assertEqual(c.receive_all(sid), b"hi")
            c.close()
        finally:
            proc.terminate()
            proc.wait(20)
            server.close()

    @staticmethod
    def _open(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False


if __name__ == "__main__":
    unittest.main()

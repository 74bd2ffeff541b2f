"""The auto door (protocol: auto): one port that sniffs its clients' first bytes and serves SOCKS5,
the HTTP proxy, HBONE (HTTP/2 prior knowledge) and TLS by SNI, each with real peers: curl,
openssl s_client/s_server and python3-h2."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from h2peer import H2Client
from harness import (HttpOrigin, Server, UdpEcho, Ugate, access_fields, closed_port, curl, echo, listening_port,
                     wait_until)
from test_socks5 import address, read_reply, recv_exact
from test_tls_sni import Backend, make_cert, s_client


def auto_listener(name="any", **opts):
    extra = "".join(f", {k}: {v}" for k, v in opts.items())
    return f"{{ name: {name}, address: '127.0.0.1:0', protocol: auto{extra} }}"


def was_reset(sock):
    """True when the peer reset the connection (what ugate does to clients it refuses)."""
    try:
        sock.recv(1)
    except ConnectionResetError:
        return True
    return False


class AutoDoor(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ugate-auto-")
        cls.origin = HttpOrigin("127.0.0.1")

    @classmethod
    def tearDownClass(cls):
        cls.origin.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def errors(self, ug, reason, listener="any"):
        return ug.metric("ugate_listener_errors_total", listener=listener, reason=reason)

    def test_one_port_serves_socks5_http_connect_tls_and_hbone(self):
        o = self.origin.port
        tls = Backend(self.dir, "a.test")
        https_key, https_cert = make_cert(self.dir, "https.test")
        web_key, web_cert = make_cert(self.dir, "web.test")
        s_server = subprocess.Popen(["openssl", "s_server", "-quiet", "-www", "-accept", "127.0.0.1:0",
                                     "-key", https_key, "-cert", https_cert], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        hbone_upstream = Server(echo)
        routes = (f"[ {{ sni: a.test, forward: '127.0.0.1:{tls.port}' }}, "
                  f"{{ sni: web.test, forward: '127.0.0.1:{o}', terminate: {{ cert: '{web_cert}', key: '{web_key}' }} }} ]")
        try:
            https_port = listening_port(s_server, "s_server")
            with Ugate(f"[ {auto_listener(routes=routes)} ]") as ug:
                port = ug.port("any")
                proxy = f"127.0.0.1:{port}"
                code, out, err = curl("--socks5-hostname", proxy, f"http://localhost:{o}/by-socks")
                self.assertEqual((code, out), (0, f"origin {o} GET /by-socks\n".encode()), err)
                code, out, err = curl("-x", f"http://{proxy}", f"http://127.0.0.1:{o}/by-http?size=200000")
                self.assertEqual(code, 0, err)
                self.assertEqual(out, f"origin {o} GET /by-http?size=200000\n".encode() + b"x" * 200000)
                code, out, err = curl("-k", "-v", "-x", f"http://{proxy}", f"https://127.0.0.1:{https_port}/")
                self.assertEqual(code, 0, err)
                self.assertIn(b"s_server", out)
                self.assertIn("HTTP/1.1 200 Connection established", err)

                payload = os.urandom(40 * 1024).hex().encode() + b"\n"
                out_a = s_client(port, "a.test", payload)
                self.assertIn("CN = a.test", out_a)
                self.assertEqual(tls.received(len(payload)), payload, "bytes exact through the TLS passthrough")
                # A route that terminates: ugate answers with web.test's certificate, the origin gets HTTP.
                code, out, err = curl("--cacert", web_cert, "--resolve", f"web.test:{port}:127.0.0.1",
                                      f"https://web.test:{port}/terminated")
                self.assertEqual((code, out), (0, f"origin {o} GET /terminated\n".encode()), err)

                h2 = H2Client.tcp(port)
                sid = h2.connect(f"127.0.0.1:{hbone_upstream.port}", headers=[("traceparent", "00-abc-def-01")])
                self.assertEqual(h2.response(sid)[":status"], "200")
                # While the HBONE stream is open, /debug/streams shows what was sniffed.
                streams = json.loads(ug.get("/debug/streams")[1])
                hb = [s for s in streams if s["dst"] == f"127.0.0.1:{hbone_upstream.port}"]
                self.assertEqual([(s["protocol"], s["sniffed"]) for s in hb], [("auto", "h2c")], streams)
                data = os.urandom(300 * 1024)
                h2.send(sid, data, end=True)
                self.assertEqual(h2.receive_all(sid), data)
                h2.close()
                self.assertTrue(ug.ready())

                ug.stop()
                lines = access_fields(ug, lambda f: f["listener"] == "any")
                by = lambda pred: [f for f in lines if pred(f)]
                socks = by(lambda f: f["sniffed"] == "socks5")
                self.assertEqual([(f["dst"], f["mode"], f["result"]) for f in socks],
                                 [(f"localhost:{o}", "splice", "done")], lines)
                http = by(lambda f: f["sniffed"] == "http1")
                self.assertEqual(sorted((f["dst"], f["mode"], f["result"]) for f in http),
                                 sorted([(f"127.0.0.1:{https_port}", "splice", "done"),
                                         (f"127.0.0.1:{o}", "copy", "done")]), lines)
                tls_lines = by(lambda f: f["sniffed"] == "tls")
                self.assertEqual(sorted((f["sni"], f["alpn"], f["mode"], f["result"]) for f in tls_lines),
                                 [("a.test", "h2,http/1.1", "splice", "done"), ("web.test", "-", "copy", "done")],
                                 lines)
                self.assertEqual([(f["protocol"], f["bytes_up"], f["result"]) for f in by(lambda f: f["sniffed"] == "h2c")],
                                 [("auto", str(len(data)), "done")], lines)
        finally:
            tls.stop()
            s_server.kill()
            s_server.wait()
            hbone_upstream.close()

    def test_socks5_udp_associate_through_the_auto_port(self):
        udp = UdpEcho()
        with Ugate(f"[ {auto_listener()} ]") as ug:
            with socket.create_connection(("127.0.0.1", ug.port("any")), timeout=5) as control:
                control.sendall(b"\x05\x01\x00")
                self.assertEqual(recv_exact(control, 2), b"\x05\x00")
                control.sendall(b"\x05\x03\x00" + address("0.0.0.0", 0))
                rep, relay = read_reply(control)
                self.assertEqual(rep, 0)
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
                    c.settimeout(5)
                    c.sendto(b"\x00\x00\x00" + address("127.0.0.1", udp.port) + b"ping", relay)
                    data, _ = c.recvfrom(65535)
                    self.assertEqual(data, b"\x00\x00\x00" + address("127.0.0.1", udp.port) + b"echo:ping")
        udp.close()

    def test_garbage_slow_truncated_and_unroutable_clients_are_closed_and_counted(self):
        with Ugate(f"[ {auto_listener(sniff_timeout='1s')} ]") as ug:
            port = ug.port("any")
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(b"SSH-2.0-OpenSSH_9.2p1\r\n")
                self.assertTrue(was_reset(c), "garbage is reset")
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(b"\x05\x00")  # a SOCKS5 greeting offering no method
                self.assertTrue(was_reset(c))
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(bytes.fromhex("16030100ff01"))  # a truncated ClientHello, then the client gives up
                c.shutdown(socket.SHUT_WR)
                try:
                    c.recv(1)
                except ConnectionResetError:
                    pass
            wait_until(lambda: self.errors(ug, "sniff_failed") == 3, what="three sniff_failed")

            slow = socket.create_connection(("127.0.0.1", port), timeout=5)
            slow.sendall(b"CONN")  # an HTTP method that never ends: still sniffing
            wait_until(lambda: any(s["phase"] == "sniffing" for s in json.loads(ug.get("/debug/streams")[1])),
                       what="the sniffing connection in /debug/streams")
            self.assertEqual(ug.metric("ugate_listener_active_streams", listener="any"), 1)
            start = time.monotonic()
            self.assertTrue(was_reset(slow), "a client slower than sniff_timeout is reset")
            self.assertLess(time.monotonic() - start, 3.0)  # sniff_timeout 1s, with room for a loaded machine
            slow.close()
            wait_until(lambda: self.errors(ug, "sniff_timeout") == 1, what="one sniff_timeout")

            # TLS on an auto listener without routes: refused, with a reason.
            s_client(port, "a.test", b"")
            wait_until(lambda: self.errors(ug, "no_route") == 1, what="one no_route")
            self.assertTrue(ug.ready(), "the process is fine")
            self.assertEqual(ug.log().count("refused a connection: its first bytes are not TLS"), 1, "logged once")
            ug.stop()
            results = [(f["sniffed"], f["result"]) for f in access_fields(ug, lambda f: True)]
            self.assertEqual(sorted(results), [("-", "sniff_failed"), ("-", "sniff_failed"), ("-", "sniff_failed"),
                                               ("-", "sniff_timeout"), ("tls", "no_route")])

    def test_users_and_allow_hold_for_every_protocol(self):
        o = self.origin.port
        users = "[ { name: alice, password: 's3cret' } ]"
        allow = f"[ {{ host: 127.0.0.1, port: {o} }} ]"
        closed = closed_port(self.addCleanup)
        with Ugate(f"[ {auto_listener(name='locked', users=users)}, "
                   f"{auto_listener(name='limited', allow=allow)} ]") as ug:
            locked, limited = ug.port("locked"), ug.port("limited")
            url = f"http://127.0.0.1:{o}/private"
            code, out, err = curl("--socks5-hostname", f"127.0.0.1:{locked}", "--proxy-user", "alice:s3cret", url)
            self.assertEqual(code, 0, err)
            code, out, err = curl("--socks5-hostname", f"127.0.0.1:{locked}", url)
            self.assertNotEqual(code, 0, "SOCKS5 without credentials")
            code, out, err = curl("-w", "%{http_code}", "-x", f"http://127.0.0.1:{locked}", url)
            self.assertTrue(out.endswith(b"407"), out)
            # HBONE carries no proxy credentials: refused on a listener with users.
            h2 = H2Client.tcp(locked, timeout=5)
            with self.assertRaises(ConnectionResetError):
                h2.response(h2.connect(f"127.0.0.1:{o}"))
            h2.close()
            wait_until(lambda: self.errors(ug, "auth_failed", "locked") == 3, what="three auth_failed")

            code, out, err = curl("-x", f"http://127.0.0.1:{limited}", url)
            self.assertEqual(code, 0, err)
            code, out, err = curl("-w", "%{http_code}", "-x", f"http://127.0.0.1:{limited}",
                                  f"http://127.0.0.1:{closed}/")
            self.assertTrue(out.endswith(b"403"), out)
            code, out, err = curl("--socks5", f"127.0.0.1:{limited}", f"http://127.0.0.1:{closed}/")
            self.assertNotEqual(code, 0, "SOCKS5 to a destination outside allow")
            h2 = H2Client.tcp(limited)
            ok, refused = h2.connect(f"127.0.0.1:{o}"), h2.connect(f"127.0.0.1:{closed}")
            self.assertEqual(h2.response(ok)[":status"], "200")
            h2.send(ok, b"GET /over-hbone HTTP/1.0\r\n\r\n", end=True)
            self.assertIn(b"GET /over-hbone", h2.receive_all(ok))
            answer = h2.response(refused)
            self.assertEqual((answer[":status"], answer.get("proxy-status")), ("403", "ugate; error=http_request_denied"))
            h2.close()
            wait_until(lambda: self.errors(ug, "not_allowed", "limited") == 3, what="three not_allowed")
            self.assertEqual(self.errors(ug, "connect_refused", "limited"), 0, "nothing outside allow was dialled")


if __name__ == "__main__":
    unittest.main()

"""QUIC on the mesh (`protocol: quic`, UDP BASE+7): HBONE over HTTP/3 with mTLS.

Peers we did not write: ngtcp2's example client `gtlsclient` (Debian ngtcp2-client) completes a
handshake and an HTTP/3 request with ugate's listener, and is refused without a certificate the
node's roots vouch for; ugate's client (`ugate probe`) completes a handshake with ngtcp2's example
server `gtlsserver` (ngtcp2-server). The CONNECT tunnel itself is carried by `ugate probe`
(gtlsclient cannot send a CONNECT without :scheme and :path, which RFC 9114 4.4 forbids)."""
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import SANITIZED, UGATE, Server, Ugate, free_base_port, temp_dir, wait_until
from test_identity import ca_sign, csr, echo, run

GTLSCLIENT = shutil.which("gtlsclient")
GTLSSERVER = shutil.which("gtlsserver") or ("/usr/sbin/gtlsserver" if os.path.exists("/usr/sbin/gtlsserver") else None)


def gtlsclient(port, path="/", cert=None, key=None):
    """gtlsclient's output (it exits 0 even when the handshake fails: the output says what happened)."""
    args = [GTLSCLIENT, "--exit-on-all-streams-close", "--handshake-timeout=3s", "--timeout=5s"]
    if cert:
        args += ["--cert", cert, "--key", key]
    args += ["127.0.0.1", str(port), f"https://127.0.0.1:{port}{path}"]
    r = subprocess.run(args, capture_output=True, timeout=30)
    return (r.stdout + r.stderr).decode(errors="replace")


def probe(port, *args, data=b"", host="127.0.0.1"):
    """`ugate probe`: (exit code, stdout bytes, stderr text)."""
    r = subprocess.run([UGATE, "probe", f"{host}:{port}", *args], input=data, capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


@unittest.skipUnless(GTLSCLIENT, "gtlsclient (Debian ngtcp2-client) is not installed")
class QuicListener(unittest.TestCase):
    def setUp(self):
        self.dir = temp_dir("ugate-quic-")
        self.echo = Server(echo)
        self.ug = Ugate("[ { name: quic, address: '127.0.0.1:0', protocol: quic, handshake_timeout: 2s } ]",
                        extra_yaml="identity: { name: gw }")
        self.ug.start()
        self.port = self.ug.port("quic")
        self.ca = os.path.join(self.ug.dir, "state", "ca")
        self.root = os.path.join(self.ug.dir, "state", "root-cert.pem")

    def tearDown(self):
        self.ug.__exit__()
        self.echo.close()

    def client_cert(self, name, ca=None):
        key, req = csr(self.dir, name, f"spiffe://cluster.local/ns/default/sa/{name}")
        return ca_sign(ca or self.ca, req, os.path.join(self.dir, f"{name}.crt")), key

    def handshakes(self, outcome):
        return self.ug.metric("ugate_quic_handshakes_total", listener="quic", outcome=outcome)

    def test_ngtcp2_client_with_a_mesh_certificate_gets_an_http3_answer(self):
        cert, key = self.client_cert("client")
        out = gtlsclient(self.port, "/healthz", cert, key)
        self.assertIn("QUIC handshake has completed", out)
        self.assertIn("Negotiated ALPN is h3", out)
        # A GET is not a tunnel: the HBONE answer for it, as over HTTP/2.
        self.assertIn("[:status: 405]", out)
        self.assertIn("[proxy-status: ugate; error=http_request_error", out)
        wait_until(lambda: self.handshakes("accepted") == 1, what="handshake counted")
        wait_until(lambda: any("protocol=quic" in l for l in self.ug.access_lines()), what="access log line")
        line = [l for l in self.ug.access_lines() if "protocol=quic" in l][0]
        self.assertIn("peer_spiffe=spiffe://cluster.local/ns/default/sa/client", line)
        self.assertIn("sniffed=h3", line)

    def test_refused_without_a_certificate_or_with_another_cas(self):
        # In TLS 1.3 the client is done before the server judges its certificate: the server's
        # CONNECTION_CLOSE says why (CRYPTO_ERROR 0x100 + the alert: 116 certificate_required).
        out = gtlsclient(self.port)
        self.assertIn("CONNECTION_CLOSE(0x1c) error_code=CRYPTO_ERROR(0x174)", out)
        self.assertNotIn("[:status:", out)
        wait_until(lambda: self.handshakes("no_client_cert") == 1, what="no_client_cert counted")
        other = os.path.join(self.dir, "other-ca")
        run(UGATE, "ca", "init", "--dir", other)
        cert, key = self.client_cert("stranger", ca=other)
        out = gtlsclient(self.port, "/", cert, key)
        self.assertIn("CONNECTION_CLOSE(0x1c) error_code=CRYPTO_ERROR(0x12a)", out)  # 42: bad_certificate
        self.assertNotIn("[:status:", out)
        wait_until(lambda: self.handshakes("cert_rejected") == 1, what="cert_rejected counted")
        self.assertEqual(self.handshakes("accepted"), 0)
        self.assertEqual(self.ug.metric("ugate_quic_connections", listener="quic"), 0)
        self.assertTrue(self.ug.ready())
        self.assertIn("QUIC handshake from", self.ug.log())

    def test_connect_through_quic_is_byte_exact(self):
        cert, key = self.client_cert("client")
        data = os.urandom(3 << 20) + b"end"
        rc, out, err = probe(self.port, "--connect", f"127.0.0.1:{self.echo.port}", "--cert", cert, "--key", key,
                             "--roots", self.root, data=data)
        self.assertEqual(rc, 0, err)
        self.assertEqual(hashlib.sha256(out).hexdigest(), hashlib.sha256(data).hexdigest(), f"{len(out)} bytes back")
        self.assertIn(f"CONNECT 127.0.0.1:{self.echo.port}: 200", err)
        self.assertIn("peer spiffe://cluster.local/ns/default/sa/gw", err)
        wait_until(lambda: any("protocol=quic" in l and "result=done" in l for l in self.ug.access_lines()),
                   what="the tunnel's access log line")
        line = [l for l in self.ug.access_lines() if "protocol=quic" in l][0]
        self.assertIn(f"dst=127.0.0.1:{self.echo.port}", line)
        self.assertIn("peer_spiffe=spiffe://cluster.local/ns/default/sa/client", line)

    def test_many_streams_on_one_connection_are_byte_exact(self):
        cert, key = self.client_cert("client")
        data = os.urandom(64 << 10)
        rc, out, err = probe(self.port, "--connect", f"127.0.0.1:{self.echo.port}", "--streams", "200", "--cert", cert,
                             "--key", key, "--roots", self.root, data=data)
        self.assertEqual(rc, 0, err)
        self.assertIn(f"quic: 200 tunnels: 200, {len(data)} bytes back, sha256 {hashlib.sha256(data).hexdigest()}\n",
                      err)

    @unittest.skipIf(SANITIZED, "RSS means nothing under AddressSanitizer")
    def test_a_reader_that_stops_does_not_grow_the_gateways_memory(self):
        # 400 tunnels from sources that send as fast as they can, to a client that stops reading
        # (SIGSTOP): each stream may hold 256 KiB (100 MiB in all), but the connection holds at
        # most its cap (4 MiB), counted in the worker's send budget with the HTTP/2 streams'.
        # Seen: the budget at exactly 4 MiB, RSS +8 MiB (without the cap the budget alone would
        # let it reach 32 MiB).
        streams, each = 400, 2 << 20
        connected = []
        lock = threading.Lock()

        def source(conn):
            with lock:
                connected.append(conn)
            chunk = b"s" * 65536
            try:
                for _ in range(each // len(chunk)):
                    conn.sendall(chunk)
            except OSError:
                pass
        src = Server(source, backlog=512)
        self.addCleanup(src.close)
        cert, key = self.client_cert("client")
        out = open(os.path.join(self.dir, "probe.err"), "wb")
        self.addCleanup(out.close)
        start = self.ug.rss()
        p = subprocess.Popen([UGATE, "probe", f"127.0.0.1:{self.port}", "--connect", f"127.0.0.1:{src.port}",
                              "--streams", str(streams), "--cert", cert, "--key", key, "--roots", self.root],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out)
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        wait_until(lambda: len(connected) == streams, timeout=20, what=f"{streams} tunnels to the source")
        p.send_signal(signal.SIGSTOP)
        peak_rss, peak_queued = 0, 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            peak_rss = max(peak_rss, self.ug.rss())
            peak_queued = max(peak_queued, self.ug.metric("ugate_mesh_send_queued_bytes"))
            time.sleep(0.1)
        self.assertGreater(peak_queued, 1 << 20, "the QUIC streams' bytes count in the send budget")
        self.assertLessEqual(peak_queued, 4 << 20)
        self.assertLess(peak_rss - start, 24 << 20, f"RSS {start >> 20} MiB -> {peak_rss >> 20} MiB")
        p.kill()
        self.assertTrue(self.ug.ready())

    def test_refused_destination_and_wrong_pin(self):
        cert, key = self.client_cert("client")
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        rc, out, err = probe(self.port, "--connect", f"127.0.0.1:{port}", "--cert", cert, "--key", key,
                             "--roots", self.root)
        self.assertEqual(rc, 1, err)
        self.assertRegex(err, rf"CONNECT 127.0.0.1:{port}: 50[23]")
        rc, out, err = probe(self.port, "--id", "spiffe://cluster.local/ns/default/sa/someone-else", "--cert", cert,
                             "--key", key, "--roots", self.root)
        self.assertEqual(rc, 2, err)
        self.assertIn("cert_rejected", err)
        rc, out, err = probe(self.port, "--id", "spiffe://cluster.local/ns/default/sa/gw", "--cert", cert,
                             "--key", key, "--roots", self.root)
        self.assertEqual(rc, 0, err)
        self.assertTrue(self.ug.ready())

    def test_garbage_truncated_initials_and_unknown_versions_are_dropped_and_counted(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        addr = ("127.0.0.1", self.port)
        s.sendto(b"hello", addr)  # not a QUIC header
        initial = bytes([0xc0]) + (1).to_bytes(4, "big") + bytes([8]) + os.urandom(8) + bytes([8]) + os.urandom(8)
        s.sendto(initial + os.urandom(20), addr)  # an Initial far below 1200 bytes
        unknown = bytes([0xc0]) + bytes.fromhex("1a2a3a4a") + bytes([8]) + os.urandom(8) + bytes([8]) + os.urandom(8)
        s.sendto(unknown + bytes(1200 - len(unknown)), addr)
        vn, _ = s.recvfrom(2048)
        self.assertEqual(vn[1:5], b"\0\0\0\0", "a Version Negotiation packet")
        self.assertIn((1).to_bytes(4, "big"), vn[5 + 2 + 16:], "offering QUIC v1")
        s.close()
        for reason in ("not_quic", "unknown_connection", "version"):
            wait_until(lambda: self.ug.metric("ugate_quic_packets_dropped_total", listener="quic", reason=reason) == 1,
                       what=f"{reason} counted")
        cert, key = self.client_cert("client")
        self.assertIn("QUIC handshake has completed", gtlsclient(self.port, "/", cert, key))
        self.assertTrue(self.ug.ready())


@unittest.skipUnless(GTLSSERVER, "gtlsserver (Debian ngtcp2-server) is not installed")
class ProbeAgainstNgtcp2Server(unittest.TestCase):
    def test_handshake_and_request_with_gtlsserver(self):
        d = temp_dir("ugate-quic-")
        ca = os.path.join(d, "ca")
        run(UGATE, "ca", "init", "--dir", ca)
        server_key, req = csr(d, "server", "spiffe://cluster.local/ns/default/sa/ngtcp2")
        server_cert = ca_sign(ca, req, os.path.join(d, "server.crt"))
        client_key, req = csr(d, "client", "spiffe://cluster.local/ns/default/sa/client")
        client_cert = ca_sign(ca, req, os.path.join(d, "client.crt"))
        root = os.path.join(ca, "root-cert.pem")
        port = free_base_port(offsets=(), udp_offsets=(0,))
        server = subprocess.Popen([GTLSSERVER, "-q", "--verify-client", "127.0.0.1", str(port), server_key, server_cert],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            rc, out, err = probe(port, "--roots", root, "--cert", client_cert, "--key", client_key,
                                 "--connect", "example.test:443", "--timeout", "5s")
            self.assertIn(f"handshake with 127.0.0.1:{port} done", err)
            self.assertIn("peer spiffe://cluster.local/ns/default/sa/ngtcp2", err)
            # Its server answers the CONNECT over HTTP/3 (it serves files, not tunnels).
            self.assertRegex(err, r"CONNECT example.test:443: [1-5]\d\d")
        finally:
            server.kill()
            server.wait()


class EmbeddedDefault(unittest.TestCase):
    def test_a_node_without_config_serves_the_mesh_on_tcp_and_quic(self):
        base = free_base_port()
        state = temp_dir("ugate-it-")
        env = dict(os.environ, UGATE_STATE_DIR=state)
        proc = subprocess.Popen([UGATE, "--base-port", str(base)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
        try:
            def mesh_open():
                try:
                    socket.create_connection(("127.0.0.1", base + 8), timeout=1).close()
                    return True
                except OSError:
                    return False
            wait_until(mesh_open, what="the mesh port")
            files = ("--cert", f"{state}/cert-chain.pem", "--key", f"{state}/key.pem", "--roots",
                     f"{state}/root-cert.pem")
            rc, out, err = probe(base + 7, *files)
            self.assertEqual(rc, 0, err)
            self.assertIn("ALPN h3", err)
        finally:
            proc.terminate()
            proc.wait(20)


if __name__ == "__main__":
    unittest.main()

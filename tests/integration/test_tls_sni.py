"""The TLS door (protocol: tls-sni): passthrough routed by the ClientHello's SNI,
with real openssl s_client and s_server peers."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Ugate, listening_port, wait_until


def make_cert(directory, name):
    key, cert = os.path.join(directory, f"{name}.key"), os.path.join(directory, f"{name}.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-subj", f"/CN={name}", "-days", "1"],
                   check=True, capture_output=True, timeout=30)
    return key, cert


class Backend:
    """openssl s_server for one connection; what it received ends up in `received`."""

    def __init__(self, directory, name):
        key, cert = make_cert(directory, name)
        self.out = open(os.path.join(directory, f"{name}.out"), "wb")
        self.proc = subprocess.Popen(["openssl", "s_server", "-quiet", "-naccept", "1", "-accept",
                                      "127.0.0.1:0", "-key", key, "-cert", cert],
                                     stdin=subprocess.PIPE, stdout=self.out, stderr=subprocess.DEVNULL)
        # stdin stays open: at EOF there s_server would stop relaying what it receives.
        # Probing with a connection would use up -naccept 1: ask the kernel instead (its port, too).
        self.port = listening_port(self.proc, f"s_server {name}")

    def received(self, size):
        """What s_server printed, once `size` bytes arrived (or after 10 s)."""
        try:
            wait_until(lambda: os.path.getsize(self.out.name) >= size, what="s_server output")
        except AssertionError:
            pass  # compared below, with the bytes that did arrive
        with open(self.out.name, "rb") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdin.close()
        self.out.close()


def s_client(port, servername, payload):
    """Runs openssl s_client through the door; returns its stdout (certificate details)."""
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-alpn", "h2,http/1.1"]
    args += ["-servername", servername] if servername else ["-noservername"]
    r = subprocess.run(args, input=payload, capture_output=True, timeout=30)
    return r.stdout.decode(errors="replace")


class TlsSniDoor(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ugate-sni-")
        self.a = Backend(self.dir, "a.test")
        self.b = Backend(self.dir, "x.b.test")
        self.yaml = (f"[ {{ name: sni, address: '127.0.0.1:0', protocol: tls-sni, sniff_timeout: 1s, "
                     f"routes: [ {{ sni: a.test, forward: '127.0.0.1:{self.a.port}' }}, "
                     f"{{ sni: '*.b.test', forward: '127.0.0.1:{self.b.port}' }} ] }} ]")

    def tearDown(self):
        self.a.stop()
        self.b.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_two_names_reach_two_backends_bytes_exact(self):
        payload_a = os.urandom(48 * 1024).hex().encode() + b"\n"
        payload_b = os.urandom(32 * 1024).hex().encode() + b"\n"
        with Ugate(self.yaml) as ug:
            port = ug.port("sni")
            out_a = s_client(port, "a.test", payload_a)
            out_b = s_client(port, "x.b.test", payload_b)
            self.assertIn("CN = a.test", out_a)
            self.assertIn("CN = x.b.test", out_b)
            self.assertEqual(self.a.received(len(payload_a)), payload_a)
            self.assertEqual(self.b.received(len(payload_b)), payload_b)
            ug.stop()
            lines = ug.access_lines()
            self.assertTrue(any("sni=a.test alpn=h2,http/1.1 mode=splice" in l and "result=done" in l for l in lines),
                            lines)
            self.assertTrue(any("sni=x.b.test" in l and "mode=splice" in l for l in lines), lines)

    def test_unknown_or_missing_name_is_refused_and_counted(self):
        with Ugate(self.yaml) as ug:
            port = ug.port("sni")
            s_client(port, "c.test", b"")
            s_client(port, None, b"")
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="sni", reason="no_route") == 2,
                       what="two no_route")

    def test_not_tls_and_slow_clients_are_closed_and_counted(self):
        with Ugate(self.yaml) as ug:
            port = ug.port("sni")
            with socket.create_connection(("127.0.0.1", port)) as c:
                c.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
                c.settimeout(5)
                with self.assertRaises(ConnectionResetError):
                    c.recv(1)
            start = time.monotonic()
            with socket.create_connection(("127.0.0.1", port)) as c:
                c.sendall(bytes.fromhex("160301"))  # a ClientHello that never comes
                c.settimeout(5)
                with self.assertRaises(ConnectionResetError):
                    c.recv(1)
            self.assertLess(time.monotonic() - start, 3.0)  # sniff_timeout 1s, with room for a loaded machine
            with socket.create_connection(("127.0.0.1", port)) as c:
                c.sendall(bytes.fromhex("16030100ff01"))  # truncated, then the client gives up
                c.shutdown(socket.SHUT_WR)
                c.settimeout(5)
                try:
                    c.recv(1)
                except ConnectionResetError:
                    pass
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="sni", reason="sniff_failed") == 2,
                       what="two sniff_failed")
            self.assertEqual(ug.metric("ugate_listener_errors_total", listener="sni", reason="sniff_timeout"), 1)
            self.assertTrue(ug.ready(), "the process is fine")

    def test_oversized_client_hellos_are_closed_and_counted(self):
        def refused(data):
            """True when ugate resets the connection (while we send, or after)."""
            with socket.create_connection(("127.0.0.1", port)) as c:
                c.settimeout(5)
                try:
                    c.sendall(data)
                    c.recv(1)
                except (BrokenPipeError, ConnectionResetError):
                    return True
                return False

        with Ugate(self.yaml) as ug:
            port = ug.port("sni")
            # A handshake that announces 16 MiB.
            self.assertTrue(refused(bytes.fromhex("1603010400") + bytes.fromhex("01ffffff") + b"\0" * 1020))
            # A plausible length, but in 1-byte records: more than the 16 KiB a ClientHello may take.
            head = bytes.fromhex("01003e80")  # ClientHello, 16000 bytes
            records = b"".join(bytes.fromhex("1603010001") + bytes([b]) for b in head + b"\1" * 4000)
            self.assertTrue(refused(records))
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="sni", reason="sniff_failed") == 2,
                       what="two sniff_failed")
            self.assertEqual(ug.metric("ugate_listener_errors_total", listener="sni", reason="sniff_timeout"), 0,
                             "refused at once, not after the deadline")
            self.assertTrue(ug.ready(), "the process is fine")


if __name__ == "__main__":
    unittest.main()

"""The SOCKS5 door (protocol: socks5): curl as the client, python's http.server as the origin, and a
raw client for reply codes, UDP ASSOCIATE and bad input."""
import ipaddress
import json
import socket
import struct
import time
import unittest

from harness import HttpOrigin, Server, UdpEcho, Ugate, closed_port, curl, echo, wait_until


def socks_listener(name="socks", **opts):
    extra = "".join(f", {k}: {v}" for k, v in opts.items())
    return f"{{ name: {name}, address: '127.0.0.1:0', protocol: socks5{extra} }}"


def address(host, port):
    """ATYP ADDR PORT for an IP literal or a domain name."""
    try:
        ip = ipaddress.ip_address(host)
        head = (b"\x01" if ip.version == 4 else b"\x04") + ip.packed
    except ValueError:
        head = b"\x03" + bytes([len(host)]) + host.encode()
    return head + struct.pack(">H", port)


def read_reply(sock):
    """(REP, bound (host, port)) of a SOCKS5 reply."""
    head = recv_exact(sock, 4)
    assert head[0] == 5 and head[2] == 0, head
    n = {1: 4, 4: 16}[head[3]]
    addr = recv_exact(sock, n)
    port = struct.unpack(">H", recv_exact(sock, 2))[0]
    return head[1], (str(ipaddress.ip_address(addr)), port)


def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        data = sock.recv(n - len(out))
        if not data:
            raise ConnectionError(f"EOF after {len(out)} of {n} bytes")
        out += data
    return out


def handshake(port, request, greeting=b"\x05\x01\x00"):
    """Connects, negotiates no-auth, sends `request`; returns (socket, REP, bound)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(greeting)
    assert recv_exact(s, 2) == b"\x05\x00"
    s.sendall(request)
    rep, bound = read_reply(s)
    return s, rep, bound


def closed_cleanly(sock):
    """True when the peer closed with FIN (not RST) and sent nothing more."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return False


class Socks5Connect(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin = HttpOrigin("127.0.0.1")
        cls.origin6 = HttpOrigin("::1")

    @classmethod
    def tearDownClass(cls):
        cls.origin.close()
        cls.origin6.close()

    def test_curl_socks5_hostname_and_socks5_to_ipv4_ipv6_and_names(self):
        with Ugate(f"[ {socks_listener()} ]") as ug:
            port = ug.port("socks")
            o, o6 = self.origin.port, self.origin6.port
            code, out, err = curl("--socks5-hostname", f"127.0.0.1:{port}", f"http://localhost:{o}/by-name")
            self.assertEqual((code, out), (0, f"origin {o} GET /by-name\n".encode()), err)
            code, out, err = curl("--socks5", f"127.0.0.1:{port}", f"http://127.0.0.1:{o}/by-ipv4?size=300000")
            self.assertEqual(code, 0, err)
            self.assertEqual(out, f"origin {o} GET /by-ipv4?size=300000\n".encode() + b"x" * 300000)
            code, out, err = curl("--socks5", f"127.0.0.1:{port}", f"http://[::1]:{o6}/by-ipv6")
            self.assertEqual((code, out), (0, f"origin {o6} GET /by-ipv6\n".encode()), err)
            ug.stop()
            lines = ug.access_lines()
            self.assertEqual(len(lines), 3, lines)
            self.assertTrue(any(f"dst=localhost:{o} " in l and f"upstream=127.0.0.1:{o} " in l for l in lines), lines)
            self.assertTrue(any(f"dst=[::1]:{o6} " in l and f"upstream=[::1]:{o6} " in l for l in lines), lines)
            self.assertTrue(all("protocol=socks5" in l and "mode=splice" in l and "result=done" in l for l in lines),
                            lines)

    def test_username_password_right_wrong_and_missing(self):
        users = "[ { name: alice, password: 's3cret' }, { name: bob, password: other } ]"
        with Ugate(f"[ {socks_listener(users=users)} ]") as ug:
            port = ug.port("socks")
            url = f"http://127.0.0.1:{self.origin.port}/private"
            code, out, err = curl("--socks5-hostname", f"127.0.0.1:{port}", "--proxy-user", "alice:s3cret", url)
            self.assertEqual(code, 0, err)
            self.assertIn(b"GET /private", out)
            code, _, err = curl("--socks5-hostname", f"127.0.0.1:{port}", "--proxy-user", "alice:wrong", url)
            self.assertNotEqual(code, 0)
            self.assertIn("rejected", err)
            code, _, err = curl("--socks5-hostname", f"127.0.0.1:{port}", url)  # offers no-auth only
            self.assertNotEqual(code, 0)
            self.assertIn("acceptable", err)
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="socks", reason="auth_failed") == 2,
                       what="two auth_failed")
            ug.stop()
            lines = ug.access_lines()
            self.assertTrue(any("user=alice" in l and "result=done" in l for l in lines), lines)
            self.assertTrue(any("user=- " in l and "result=auth_failed" in l for l in lines), lines)
            self.assertNotIn("s3cret", "".join(lines) + ug.log())

    def test_reply_codes_for_refused_unresolvable_not_allowed_and_unsupported(self):
        closed = closed_port(self.addCleanup)
        allow = f"[ {{ host: 127.0.0.1, port: {closed} }}, {{ host: '*.invalid' }} ]"
        with Ugate(f"[ {socks_listener(allow=allow)} ]") as ug:
            port = ug.port("socks")
            s, rep, _ = handshake(port, b"\x05\x01\x00" + address("127.0.0.1", closed))
            self.assertEqual(rep, 5, "connection refused")
            self.assertTrue(closed_cleanly(s), "FIN after the reply")
            s.close()
            s, rep, _ = handshake(port, b"\x05\x01\x00" + address("nope.invalid", 80))
            self.assertEqual(rep, 4, "host unreachable")
            s.close()
            s, rep, _ = handshake(port, b"\x05\x01\x00" + address("127.0.0.1", self.origin.port))
            self.assertEqual(rep, 2, "not allowed by the allow list")
            s.close()
            s, rep, _ = handshake(port, b"\x05\x02\x00" + address("127.0.0.1", closed))
            self.assertEqual(rep, 7, "BIND: command not supported")
            s.close()
            s, rep, _ = handshake(port, b"\x05\x01\x00\x09" + b"\x00" * 6)
            self.assertEqual(rep, 8, "address type not supported")
            s.close()
            errors = lambda reason: ug.metric("ugate_listener_errors_total", listener="socks", reason=reason)
            wait_until(lambda: errors("bad_request") == 2, what="two bad_request")
            self.assertEqual(errors("connect_refused"), 1)
            self.assertEqual(errors("resolve_failed"), 1)
            self.assertEqual(errors("not_allowed"), 1)

    def test_the_nodes_admin_port_is_not_a_destination(self):
        with Ugate(f"[ {socks_listener()} ]") as ug:
            port = ug.port("socks")
            for host in ("127.0.0.1", "localhost"):
                s, rep, _ = handshake(port, b"\x05\x01\x00" + address(host, ug.admin_port))
                self.assertEqual(rep, 2, f"{host}: connection not allowed by ruleset")
                s.close()
            s, rep, _ = handshake(port, b"\x05\x01\x00" + address("127.0.0.1", self.origin.port))
            self.assertEqual(rep, 0)
            s.close()
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="socks", reason="not_allowed") == 2,
                       what="two not_allowed")

    def test_bytes_sent_before_the_reply_reach_the_target(self):
        server = Server(echo)
        with Ugate(f"[ {socks_listener()} ]") as ug:
            with socket.create_connection(("127.0.0.1", ug.port("socks")), timeout=5) as s:
                # Greeting, request and payload in one segment, without waiting for any reply.
                s.sendall(b"\x05\x01\x00" + b"\x05\x01\x00" + address("127.0.0.1", server.port) + b"early ping")
                self.assertEqual(recv_exact(s, 2), b"\x05\x00")
                rep, bound = read_reply(s)
                self.assertEqual(rep, 0)
                self.assertEqual(bound[0], "127.0.0.1")
                self.assertEqual(recv_exact(s, 10), b"early ping")
                streams = json.loads(ug.get("/debug/streams")[1])
                self.assertEqual(streams[0]["dst"], f"127.0.0.1:{server.port}")
                self.assertEqual(streams[0]["mode"], "splice")
        server.close()

    def test_garbage_and_slow_clients_are_closed_and_counted(self):
        with Ugate(f"[ {socks_listener(sniff_timeout='400ms')} ]") as ug:
            port = ug.port("socks")
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                with self.assertRaises(ConnectionResetError):
                    s.recv(1)
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"\x05\x01\x00\x05\x01")  # a request that never ends
                self.assertEqual(recv_exact(s, 2), b"\x05\x00")
                start = time.monotonic()
                with self.assertRaises(ConnectionResetError):
                    s.recv(1)
                self.assertLess(time.monotonic() - start, 2.0)
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"\x05\x01")  # truncated greeting, then the client gives up
                s.shutdown(socket.SHUT_WR)
                try:
                    s.recv(1)
                except ConnectionResetError:
                    pass
            errors = lambda reason: ug.metric("ugate_listener_errors_total", listener="socks", reason=reason)
            wait_until(lambda: errors("sniff_timeout") == 1 and errors("sniff_failed") == 1 and
                       errors("downstream_reset") == 1, what="each bad client counted")
            self.assertTrue(ug.ready(), "the process is fine")


class Socks5UdpAssociate(unittest.TestCase):
    def associate(self, port):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"\x05\x01\x00")
        assert recv_exact(s, 2) == b"\x05\x00"
        s.sendall(b"\x05\x03\x00" + address("0.0.0.0", 0))
        rep, relay = read_reply(s)
        self.assertEqual(rep, 0)
        return s, relay

    def test_round_trip_by_address_and_by_name_and_strangers_dropped(self):
        echo = UdpEcho()
        with Ugate(f"[ {socks_listener()} ]") as ug:
            control, relay = self.associate(ug.port("socks"))
            self.assertEqual(relay[0], "127.0.0.1")
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.settimeout(5)
            u.sendto(b"\x00\x00\x00" + address("127.0.0.1", echo.port) + b"hello", relay)
            data, sender = u.recvfrom(65535)
            self.assertEqual(sender, relay)
            self.assertEqual(data, b"\x00\x00\x00" + address("127.0.0.1", echo.port) + b"echo:hello")
            u.sendto(b"\x00\x00\x00" + address("localhost", echo.port) + b"by name", relay)
            data, _ = u.recvfrom(65535)
            self.assertTrue(data.endswith(b"echo:by name"), data)
            big = bytes(range(256)) * 200
            u.sendto(b"\x00\x00\x00" + address("127.0.0.1", echo.port) + big, relay)
            data, _ = u.recvfrom(65535)
            self.assertEqual(data[10:], b"echo:" + big)

            # Another socket on the client's host is not the client; fragments are not supported.
            stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            stranger.sendto(b"\x00\x00\x00" + address("127.0.0.1", echo.port) + b"me too", relay)
            u.sendto(b"\x00\x00\x01" + address("127.0.0.1", echo.port) + b"fragment", relay)
            wait_until(lambda: ug.metric("ugate_listener_datagrams_dropped_total", listener="socks") == 2,
                       what="two dropped datagrams")
            stranger.close()

            streams = json.loads(ug.get("/debug/streams")[1])
            self.assertEqual(streams[0]["mode"], "datagram")
            control.close()  # the association ends with its TCP connection
            wait_until(lambda: ug.metric("ugate_listener_active_streams", listener="socks") == 0,
                       what="association closed")
            u.sendto(b"\x00\x00\x00" + address("127.0.0.1", echo.port) + b"late", relay)
            u.settimeout(0.3)
            with self.assertRaises(OSError):
                u.recvfrom(65535)
            u.close()
            ug.stop()
            line = ug.access_lines()[-1]
            self.assertIn(f"dst=127.0.0.1:{echo.port}", line)
            self.assertIn("mode=datagram", line)
            self.assertIn(f"bytes_up={5 + 7 + len(big)} bytes_down={10 + 12 + 5 + len(big)} result=done", line)
        echo.close()

    def test_idle_association_ends(self):
        with Ugate(f"[ {socks_listener(udp_idle_timeout='300ms')} ]") as ug:
            control, _ = self.associate(ug.port("socks"))
            start = time.monotonic()
            self.assertTrue(closed_cleanly(control), "the idle association closes its TCP connection")
            self.assertLess(time.monotonic() - start, 3)
            control.close()
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="socks", reason="idle_timeout") == 1,
                       what="idle_timeout counted")


if __name__ == "__main__":
    unittest.main()

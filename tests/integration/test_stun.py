"""The STUN server (protocol: stun, RFC 8489 and RFC 5780): coturn's
turnutils_stunclient as the client, and raw messages from Python for TCP,
short-term credentials and malformed input."""
import binascii
import hashlib
import hmac
import os
import re
import shutil
import socket
import struct
import subprocess
import unittest

from harness import Ugate, wait_until

COOKIE = 0x2112A442
BINDING_REQUEST, BINDING_SUCCESS, BINDING_ERROR = 0x0001, 0x0101, 0x0111
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE, UNKNOWN_ATTRIBUTES = 0x0006, 0x0008, 0x0009, 0x000A
XOR_MAPPED_ADDRESS, CHANGE_REQUEST, FINGERPRINT = 0x0020, 0x0003, 0x8028
RESPONSE_ORIGIN, OTHER_ADDRESS = 0x802B, 0x802C


def attribute(kind, value):
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def request(attrs=(), tid=None, key=None, fingerprint=True, kind=BINDING_REQUEST):
    """A STUN message: attributes, then MESSAGE-INTEGRITY with `key`, then FINGERPRINT."""
    tid = tid or os.urandom(12)
    body = b"".join(attribute(k, v) for k, v in attrs)
    if key is not None:
        head = struct.pack("!HHI", kind, len(body) + 24, COOKIE) + tid
        body += attribute(MESSAGE_INTEGRITY, hmac.new(key, head + body, hashlib.sha1).digest())
    if fingerprint:
        head = struct.pack("!HHI", kind, len(body) + 8, COOKIE) + tid
        body += attribute(FINGERPRINT, struct.pack("!I", binascii.crc32(head + body) ^ 0x5354554E))
    return struct.pack("!HHI", kind, len(body), COOKIE) + tid + body


class Reply:
    """A parsed STUN message, its FINGERPRINT checked."""

    def __init__(self, data):
        self.data = data
        self.type, length, cookie = struct.unpack("!HHI", data[:8])
        assert cookie == COOKIE and length + 20 == len(data), data
        self.tid = data[8:20]
        self.attrs = {}
        at = 20
        while at < len(data):
            kind, n = struct.unpack("!HH", data[at:at + 4])
            if kind == FINGERPRINT:
                crc = binascii.crc32(data[:at]) ^ 0x5354554E
                assert struct.unpack("!I", data[at + 4:at + 8])[0] == crc, "bad FINGERPRINT"
            self.attrs.setdefault(kind, (at, data[at + 4:at + 4 + n]))
            at += 4 + n + (-n % 4)

    def value(self, kind):
        return self.attrs[kind][1] if kind in self.attrs else None

    def error(self):
        v = self.value(ERROR_CODE)
        return v[2] * 100 + v[3] if v else 0

    def address(self, kind, xor=False):
        v = self.value(kind)
        family, port = struct.unpack("!xBH", v[:4])
        raw = v[4:]
        if xor:
            port ^= COOKIE >> 16
            raw = bytes(a ^ b for a, b in zip(raw, struct.pack("!I", COOKIE) + self.tid))
        return socket.inet_ntop(socket.AF_INET if family == 1 else socket.AF_INET6, raw), port

    def integrity_ok(self, key):
        at, mac = self.attrs[MESSAGE_INTEGRITY]
        head = self.data[:2] + struct.pack("!H", at - 20 + 24) + self.data[4:at]
        return hmac.compare_digest(hmac.new(key, head, hashlib.sha1).digest(), mac)


def udp_client(cleanup, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cleanup(s.close)
    s.bind((host, 0))
    s.settimeout(3)
    return s


def ask_udp(sock, port, message, host="127.0.0.1"):
    sock.sendto(message, (host, port))
    data, origin = sock.recvfrom(65536)
    return Reply(data), origin


def silent(sock, seconds=0.5):
    sock.settimeout(seconds)
    try:
        sock.recvfrom(65536)
        return False
    except socket.timeout:
        return True
    finally:
        sock.settimeout(3)


def stunclient(*args):
    """turnutils_stunclient's output; it waits for each answer without a timeout, so ours bounds it."""
    exe = shutil.which("turnutils_stunclient")
    assert exe, "turnutils_stunclient (Debian package coturn) is needed: scripts/install-deps.sh"
    r = subprocess.run([exe, *args], capture_output=True, text=True, timeout=15)
    # Its log goes to stdout twice at times (the log and the console): one of each run of a line.
    lines = (r.stdout + r.stderr).splitlines()
    return "\n".join(l for i, l in enumerate(lines) if i == 0 or l != lines[i - 1])


def reflexive(output):
    return re.findall(r"UDP reflexive addr:[ :]*([0-9.]+):(\d+)", output)


def stun_yaml(name="s", extra=""):
    return f"[ {{ name: {name}, address: '127.0.0.1:0', protocol: stun{extra} }} ]"


class StunServer(unittest.TestCase):
    def count(self, ug, outcome, transport="udp"):
        return ug.metric("ugate_stun_messages_total", listener="s", transport=transport, outcome=outcome)

    def test_turnutils_stunclient_learns_its_address(self):
        with Ugate(stun_yaml()) as ug:
            out = stunclient("-p", str(ug.port("s")), "127.0.0.1")
            self.assertEqual(len(reflexive(out)), 1, out)
            host, port = reflexive(out)[0]
            self.assertEqual(host, "127.0.0.1")
            self.assertNotIn(int(port), (0, ug.port("s")))
            self.assertNotIn("RFC 5780", out)  # no other address configured
            self.assertEqual(self.count(ug, "success"), 1)

    def test_udp_answer_names_the_client_address(self):
        with Ugate(stun_yaml()) as ug:
            sock = udp_client(self.addCleanup)
            tid = os.urandom(12)
            reply, origin = ask_udp(sock, ug.port("s"), request(tid=tid))
            self.assertEqual(origin, ("127.0.0.1", ug.port("s")))
            self.assertEqual(reply.type, BINDING_SUCCESS)
            self.assertEqual(reply.tid, tid)
            self.assertEqual(reply.address(XOR_MAPPED_ADDRESS, xor=True), sock.getsockname())

    def test_tcp_frames_by_length(self):
        with Ugate(stun_yaml()) as ug:
            c = socket.create_connection(("127.0.0.1", ug.port("s")), timeout=3)
            a, b = request(tid=b"A" * 12), request(tid=b"B" * 12)
            c.sendall(a + b[:7])  # one and a bit in one segment, the rest later
            first = Reply(recv_message(c))
            c.sendall(b[7:])
            second = Reply(recv_message(c))
            self.assertEqual((first.tid, second.tid), (b"A" * 12, b"B" * 12))
            self.assertEqual(second.address(XOR_MAPPED_ADDRESS, xor=True), c.getsockname())
            c.sendall(b"GET / HTTP/1.1\r\n\r\n")  # not STUN: the stream cannot go on
            self.assertEqual(c.recv(100), b"")
            c.close()
            wait_until(lambda: self.count(ug, "not_stun", "tcp") == 1, what="not_stun counted")
            self.assertEqual(self.count(ug, "success", "tcp"), 2)

    def test_malformed_and_unknown_input(self):
        with Ugate(stun_yaml()) as ug:
            port = ug.port("s")
            sock = udp_client(self.addCleanup)
            sock.sendto(b"\xab" * 40, ("127.0.0.1", port))  # not STUN: dropped
            self.assertTrue(silent(sock))
            sock.sendto(request()[:-4], ("127.0.0.1", port))  # truncated: its length field lies, dropped
            self.assertTrue(silent(sock))
            bad_fp = bytearray(request())
            bad_fp[-1] ^= 1
            sock.sendto(bytes(bad_fp), ("127.0.0.1", port))  # RFC 8489 7.3: silently discarded
            self.assertTrue(silent(sock))
            overrun = bytearray(request([(0x8022, b"client")], fingerprint=False))
            overrun[23] = 0xF0  # the attribute's length runs past the end: 400
            reply, _ = ask_udp(sock, port, bytes(overrun))
            self.assertEqual((reply.type, reply.error()), (BINDING_ERROR, 400))
            reply, _ = ask_udp(sock, port, request([(0x0024, b"\0\0\0\1"), (0x7FFF, b"x")]))
            self.assertEqual(reply.error(), 420)
            self.assertEqual(reply.value(UNKNOWN_ATTRIBUTES), b"\x00\x24\x7f\xff")
            # CHANGE-REQUEST without a second address is unknown too (RFC 5780 section 6.1).
            reply, _ = ask_udp(sock, port, request([(CHANGE_REQUEST, b"\0\0\0\6")]))
            self.assertEqual(reply.error(), 420)
            reply, _ = ask_udp(sock, port, request())  # and the process is fine
            self.assertEqual(reply.type, BINDING_SUCCESS)
            self.assertEqual(self.count(ug, "not_stun"), 2)
            self.assertEqual(self.count(ug, "bad_fingerprint"), 1)
            self.assertEqual(self.count(ug, "bad_request"), 1)
            self.assertEqual(self.count(ug, "unknown_attribute"), 2)
            self.assertEqual(ug.metric("ugate_stun_errors_total", listener="s", code="420"), 2)
            self.assertEqual(ug.log().count("counted in ugate_stun_messages_total{outcome=\"not_stun\"}"), 1)

    def test_short_term_credentials(self):
        users = ", users: [ { name: alice, password: wonderland } ]"
        with Ugate(stun_yaml(extra=users)) as ug:
            port, sock = ug.port("s"), udp_client(self.addCleanup)
            reply, _ = ask_udp(sock, port, request())
            self.assertEqual(reply.error(), 400)
            self.assertIsNone(reply.value(MESSAGE_INTEGRITY))
            for _ in range(2):  # a wrong password: 401, then 401 again
                reply, _ = ask_udp(sock, port, request([(USERNAME, b"alice")], key=b"looking-glass"))
                self.assertEqual(reply.error(), 401)
            reply, _ = ask_udp(sock, port, request([(USERNAME, b"alice")], key=b"wonderland"))
            self.assertEqual(reply.type, BINDING_SUCCESS)
            self.assertTrue(reply.integrity_ok(b"wonderland"))
            self.assertFalse(reply.integrity_ok(b"looking-glass"))
            self.assertEqual(ug.metric("ugate_stun_errors_total", listener="s", code="401"), 2)
            status, body = ug.get("/debug/config")
            self.assertNotIn("wonderland", body)


def recv_message(conn):
    head = b""
    while len(head) < 20:
        chunk = conn.recv(20 - len(head))
        assert chunk, "closed"
        head += chunk
    body = b""
    n = struct.unpack("!H", head[2:4])[0]
    while len(body) < n:
        chunk = conn.recv(n - len(body))
        assert chunk, "closed"
        body += chunk
    return head + body


def free_udp_port(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class StunRfc5780(unittest.TestCase):
    """With other_address the server answers from four sockets (A1:P1, A2:P1, A1:P2, A2:P2)."""

    def setUp(self):
        self.other_port = free_udp_port("127.0.0.2")
        self.ug = Ugate(stun_yaml(extra=f", other_address: '127.0.0.2:{self.other_port}'"))
        self.ug.start()
        self.addCleanup(self.ug.__exit__)
        self.port = self.ug.port("s")

    def test_turnutils_stunclient_behaviour_discovery(self):
        out = stunclient("-f", "-L", "127.0.0.1", "-p", str(self.port), "127.0.0.1")
        self.assertEqual(out.count("RFC 5780 response"), 3, out)
        self.assertEqual(len(reflexive(out)), 3, out)
        self.assertTrue(all(h == "127.0.0.1" for h, _ in reflexive(out)), out)
        origins = re.findall(r"Response origin:[ :]*([0-9.]+:\d+)", out)
        others = re.findall(r"Other addr:[ :]*([0-9.]+:\d+)", out)
        # The first from A1:P1; the next two asked for another IP and port (CHANGE-REQUEST).
        self.assertEqual(origins, [f"127.0.0.1:{self.port}"] + [f"127.0.0.2:{self.other_port}"] * 2, out)
        self.assertEqual(others, [f"127.0.0.2:{self.other_port}"] * 3, out)
        # The second asked for its answer on the next port (RESPONSE-PORT), and the third came from there.
        ports = [int(p) for _, p in reflexive(out)]
        self.assertEqual(ports[2], ports[0] + 1, out)

    def test_change_request_answers_from_the_other_socket(self):
        sock = udp_client(self.addCleanup)
        want = {0: ("127.0.0.1", self.port), 2: ("127.0.0.1", self.other_port),
                4: ("127.0.0.2", self.port), 6: ("127.0.0.2", self.other_port)}
        for flags, origin in want.items():
            reply, came_from = ask_udp(sock, self.port, request([(CHANGE_REQUEST, struct.pack("!I", flags))]))
            self.assertEqual(came_from, origin, flags)
            self.assertEqual(reply.address(RESPONSE_ORIGIN), origin)
            self.assertEqual(reply.address(OTHER_ADDRESS), ("127.0.0.2", self.other_port))
            self.assertEqual(reply.address(XOR_MAPPED_ADDRESS, xor=True), sock.getsockname())
        # Sent to the other address, the other address is the listener's.
        reply, came_from = ask_udp(sock, self.other_port, request(), host="127.0.0.2")
        self.assertEqual(came_from, ("127.0.0.2", self.other_port))
        self.assertEqual(reply.address(OTHER_ADDRESS), ("127.0.0.1", self.port))
        # Over TCP there is one address: a CHANGE-REQUEST is refused (400).
        c = socket.create_connection(("127.0.0.1", self.port), timeout=3)
        c.sendall(request([(CHANGE_REQUEST, b"\0\0\0\6")]))
        self.assertEqual(Reply(recv_message(c)).error(), 400)
        c.close()


if __name__ == "__main__":
    unittest.main()

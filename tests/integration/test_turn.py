"""The TURN server (protocol: stun with a turn: section, RFC 8656): coturn's
turnutils_uclient through ugate to turnutils_peer, with long-term and REST
credentials over UDP and TCP, and raw messages from Python for each error
the RFC names. Every refusal is counted in ugate_turn_refusals_total."""
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import unittest

import json

from harness import UGATE, Ugate, temp_dir, wait_until
from test_stun import COOKIE, ERROR_CODE, MESSAGE_INTEGRITY, USERNAME, Reply, attribute, free_udp_port, request, udp_client

ALLOCATE, REFRESH, SEND, CREATE_PERMISSION, CHANNEL_BIND = 0x0003, 0x0004, 0x0016, 0x0008, 0x0009
SUCCESS, ERROR = 0x0100, 0x0110  # class bits of an answer's type
CHANNEL_NUMBER, LIFETIME, XOR_PEER_ADDRESS, DATA, REALM, NONCE = 0x000C, 0x000D, 0x0012, 0x0013, 0x0014, 0x0015
XOR_RELAYED_ADDRESS, REQUESTED_TRANSPORT = 0x0016, 0x0019
UDP = b"\x11\0\0\0"
REALM_NAME, SECRET = "ugate.test", "a-shared-secret-of-some-length"


def turn_yaml(extra=""):
    return ("[ { name: t, address: '127.0.0.1:0', protocol: stun, turn: { realm: " + REALM_NAME +
            ", users: [ { name: alice, password: wonderland }, { name: bob, password: builder } ]" +
            ", auth_secret: " + SECRET + ", allow_peers: [ 127.0.0.1 ]" + extra + " } } ]")


def xor_address(host, port, tid=b""):
    """XOR-PEER-ADDRESS's value for an IPv4 address."""
    raw = bytes(a ^ b for a, b in zip(socket.inet_aton(host), struct.pack("!I", COOKIE)))
    return struct.pack("!xBH", 1, port ^ (COOKIE >> 16)) + raw


def key(user, password):
    return hashlib.md5(f"{user}:{REALM_NAME}:{password}".encode()).digest()


class Client:
    """A TURN client over UDP, made of raw messages: the 401 first, then signed requests."""

    def __init__(self, test, port, user="alice", password="wonderland"):
        self.sock = udp_client(test.addCleanup)
        self.port, self.user, self.key = port, user, key(user, password)
        self.nonce = None

    def ask(self, message):
        self.sock.sendto(message, ("127.0.0.1", self.port))
        data, _ = self.sock.recvfrom(65536)
        return Reply(data)

    def challenge(self):
        reply = self.ask(request([(REQUESTED_TRANSPORT, UDP)], kind=ALLOCATE))
        assert reply.error() == 401, reply.error()
        self.nonce = reply.value(NONCE)
        return reply

    def signed(self, kind, attrs=(), key=None):
        attrs = list(attrs) + [(USERNAME, self.user.encode()), (REALM, REALM_NAME.encode()), (NONCE, self.nonce)]
        return self.ask(request(attrs, key=key or self.key, kind=kind))

    def allocate(self):
        if self.nonce is None:
            self.challenge()
        return self.signed(ALLOCATE, [(REQUESTED_TRANSPORT, UDP)])


def uclient(*args, timeout=60):
    exe = shutil.which("turnutils_uclient")
    assert exe, "turnutils_uclient (Debian package coturn) is needed: scripts/install-deps.sh"
    r = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    return r.stdout + r.stderr


class Peer:
    """turnutils_peer: echoes what reaches it over UDP."""

    def __init__(self, test):
        exe = shutil.which("turnutils_peer")
        assert exe, "turnutils_peer (Debian package coturn) is needed: scripts/install-deps.sh"
        self.port = free_udp_port("127.0.0.1")
        self.proc = subprocess.Popen([exe, "-p", str(self.port), "-L", "127.0.0.1"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        test.addCleanup(self.stop)
        wait_until(self.bound, what="turnutils_peer bound")

    def bound(self):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.bind(("127.0.0.1", self.port))
            return False
        except OSError:
            return True
        finally:
            probe.close()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def received(output):
    m = re.findall(r"tot_recv_msgs=(\d+)", output)
    return int(m[-1]) if m else -1


class TurnRelay(unittest.TestCase):
    """turnutils_uclient through ugate to turnutils_peer and back."""

    def run_uclient(self, ug, peer, *args, messages=100, clients=4):
        out = uclient("-p", str(ug.port("t")), "-e", "127.0.0.1", "-r", str(peer.port), "-m", str(clients),
                      "-n", str(messages), "-l", "512", "-c", *args, "127.0.0.1")
        self.assertEqual(received(out), clients * messages, out[-3000:])
        self.assertIn("Total lost packets 0 ", out, out[-3000:])
        return out

    def test_long_term_credentials_over_udp_with_channels_and_indications(self):
        with Ugate(turn_yaml()) as ug:
            peer = Peer(self)
            self.run_uclient(ug, peer, "-u", "alice", "-w", "wonderland")
            self.run_uclient(ug, peer, "-u", "bob", "-w", "builder", "-s")  # -s: Send and Data indications
            relayed = ug.metric("ugate_turn_relayed_packets_total", listener="t", direction="to_peer")
            self.assertGreaterEqual(relayed, 800)
            self.assertGreaterEqual(ug.metric("ugate_turn_relayed_packets_total", listener="t", direction="to_client"), 800)
            self.assertGreaterEqual(ug.metric("ugate_turn_relayed_bytes_total", listener="t", direction="to_peer"), 800 * 512)
            self.assertGreaterEqual(ug.metric("ugate_turn_refusals_total", listener="t", code="401"), 8)  # each first Allocate
            status, body = ug.get("/debug/config")
            self.assertNotIn("wonderland", body)
            self.assertNotIn(SECRET, body)
            self.assertNotIn("wonderland", ug.log())

    def test_rest_credentials_over_tcp(self):
        with Ugate(turn_yaml()) as ug:
            peer = Peer(self)
            self.run_uclient(ug, peer, "-t", "-u", "carol", "-W", SECRET)
            self.run_uclient(ug, peer, "-W", SECRET, "-u", "dave")  # and over UDP
            self.assertEqual(ug.metric("ugate_turn_refusals_total", listener="t", code="441"), 0)

    def test_tcp_allocations_end_with_their_connections(self):
        with Ugate(turn_yaml()) as ug:
            peer = Peer(self)
            self.run_uclient(ug, peer, "-t", "-u", "alice", "-w", "wonderland", clients=2, messages=20)
            # uclient exits without deleting them; over TCP its connections' ends do.
            wait_until(lambda: ug.metric("ugate_turn_allocations", listener="t") == 0, what="allocations gone")
            self.assertEqual(ug.metric("ugate_turn_channels", listener="t"), 0)
            self.assertEqual(ug.metric("ugate_turn_permissions", listener="t"), 0)
            self.run_uclient(ug, peer, "-u", "alice", "-w", "wonderland", clients=2, messages=20)
            self.assertGreaterEqual(ug.metric("ugate_turn_allocations", listener="t"), 2)  # UDP: until they expire


def tls_turn_yaml(cert, key):
    """turn_yaml's listener with `tls:`: its TCP port speaks TLS (RFC 8656 section 3.1)."""
    return turn_yaml().replace("protocol: stun,", f"protocol: stun, tls: {{ cert: '{cert}', key: '{key}' }},", 1)


def self_signed(directory):
    """An EC P-256 certificate for 127.0.0.1 and its key (0600)."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    os.chmod(key, 0o600)
    return cert, key


class TurnOverTls(unittest.TestCase):
    """A stun listener with tls: turnutils_uclient -S (TLS over TCP) through it, verifying its certificate."""

    def test_uclient_over_tls_long_term_and_rest(self):
        cert, key = self_signed(temp_dir("turn-tls-"))
        with Ugate(tls_turn_yaml(cert, key)) as ug:
            peer = Peer(self)
            for creds in (["-u", "alice", "-w", "wonderland"], ["-u", "carol", "-W", SECRET]):
                out = uclient("-t", "-S", "-E", cert, "-p", str(ug.port("t")), "-e", "127.0.0.1", "-r", str(peer.port),
                              "-m", "2", "-n", "50", "-l", "512", "-c", *creds, "127.0.0.1")
                self.assertEqual(received(out), 100, out[-3000:])
            self.assertGreaterEqual(ug.metric("ugate_turn_relayed_packets_total", listener="t", direction="to_client"), 200)
            wait_until(lambda: ug.metric("ugate_turn_allocations", listener="t") == 0, what="allocations end with TLS")

    def test_tls_policy_and_a_plain_client_refused(self):
        cert, key = self_signed(temp_dir("turn-tls-"))
        with Ugate(tls_turn_yaml(cert, key)) as ug:
            r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{ug.port('t')}", "-CAfile", cert,
                                "-verify_return_error", "-brief"], input="", capture_output=True, text=True, timeout=20)
            self.assertIn("Protocol version: TLSv1.3", r.stderr, r.stderr)
            self.assertIn("Verification: OK", r.stderr, r.stderr)
            # A plain STUN Binding on the TLS port is not a ClientHello: closed, counted, the process fine.
            with socket.create_connection(("127.0.0.1", ug.port("t")), timeout=5) as conn:
                conn.sendall(request())
                conn.settimeout(5)
                reply = conn.recv(4096)
                self.assertIn(reply[:1], (b"", b"\x15"), "closed, or a TLS alert: not a STUN answer")
            wait_until(lambda: ug.metric("ugate_stun_messages_total", listener="t", transport="tcp",
                                         outcome="not_stun") >= 1, what="the failed handshake counted")
            self.assertIn("TLS handshake from", ug.log())
            # Its UDP side stays plain STUN/TURN.
            sock = udp_client(self.addCleanup)
            sock.sendto(request(), ("127.0.0.1", ug.port("t")))
            self.assertEqual(Reply(sock.recvfrom(2048)[0]).type, 0x0101)  # Binding success

    def test_unreadable_certificate_fails_the_start(self):
        ug = Ugate(tls_turn_yaml("/nonexistent/cert.pem", "/nonexistent/key.pem"))
        with self.assertRaises(AssertionError) as caught:
            ug.start()
        ug.__exit__(None, None, None)
        self.assertIn("tls.cert /nonexistent/cert.pem", str(caught.exception))


class TurnErrors(unittest.TestCase):
    """Each refusal as RFC 8656 and RFC 8489 say, counted, and the process fine after."""

    def refusals(self, ug, code):
        return ug.metric("ugate_turn_refusals_total", listener="t", code=str(code))

    def test_wrong_password_is_401_then_401_again(self):
        with Ugate(turn_yaml()) as ug:
            c = Client(self, ug.port("t"), password="looking-glass")
            first = c.challenge()
            self.assertEqual(first.value(REALM), REALM_NAME.encode())
            self.assertIsNone(first.value(MESSAGE_INTEGRITY))
            for _ in range(2):
                reply = c.signed(ALLOCATE, [(REQUESTED_TRANSPORT, UDP)])
                self.assertEqual(reply.error(), 401)
                self.assertIsNotNone(reply.value(NONCE))
            self.assertEqual(self.refusals(ug, 401), 3)
            self.assertEqual(ug.log().count("answered 401"), 1)  # logged once
            good = Client(self, ug.port("t"))
            reply = good.allocate()
            self.assertEqual(reply.type, ALLOCATE | SUCCESS)
            self.assertTrue(reply.integrity_ok(good.key))
            self.assertEqual(ug.metric("ugate_turn_allocations", listener="t"), 1)

    def test_stale_nonce_is_438_with_a_fresh_one(self):
        with Ugate(turn_yaml(", nonce_lifetime: 1s")) as ug:
            c = Client(self, ug.port("t"))
            c.challenge()
            time.sleep(1.2)
            reply = c.allocate()
            self.assertEqual(reply.error(), 438)
            self.assertNotEqual(reply.value(NONCE), c.nonce)
            c.nonce = reply.value(NONCE)
            self.assertEqual(c.allocate().type, ALLOCATE | SUCCESS)
            self.assertEqual(self.refusals(ug, 438), 1)

    def test_over_quota_is_486(self):
        with Ugate(turn_yaml(", max_allocations_per_user: 2")) as ug:
            clients = [Client(self, ug.port("t")) for _ in range(3)]
            self.assertEqual(clients[0].allocate().type, ALLOCATE | SUCCESS)
            self.assertEqual(clients[1].allocate().type, ALLOCATE | SUCCESS)
            self.assertEqual(clients[2].allocate().error(), 486)
            bob = Client(self, ug.port("t"), "bob", "builder")
            self.assertEqual(bob.allocate().type, ALLOCATE | SUCCESS)  # the quota is per user
            self.assertEqual(self.refusals(ug, 486), 1)
            # A deleted allocation gives its place back.
            self.assertEqual(clients[0].signed(REFRESH, [(LIFETIME, b"\0\0\0\0")]).type, REFRESH | SUCCESS)
            self.assertEqual(clients[2].allocate().type, ALLOCATE | SUCCESS)
            self.assertEqual(ug.metric("ugate_turn_allocations", listener="t"), 3)

    def test_denied_peer_is_403_by_default(self):
        # No allow_peers: loopback is refused, as coturn's denied-peer-ip does.
        yaml = ("[ { name: t, address: '127.0.0.1:0', protocol: stun, turn: { realm: " + REALM_NAME +
                ", users: [ { name: alice, password: wonderland } ] } } ]")
        with Ugate(yaml) as ug:
            c = Client(self, ug.port("t"))
            self.assertEqual(c.allocate().type, ALLOCATE | SUCCESS)
            for host in ("127.0.0.1", "10.0.0.1", "192.168.1.1", "169.254.1.1"):
                reply = c.signed(CREATE_PERMISSION, [(XOR_PEER_ADDRESS, xor_address(host, 9))])
                self.assertEqual(reply.error(), 403, host)
            reply = c.signed(CREATE_PERMISSION, [(XOR_PEER_ADDRESS, xor_address("203.0.113.7", 9))])
            self.assertEqual(reply.type, CREATE_PERMISSION | SUCCESS)
            self.assertEqual(self.refusals(ug, 403), 4)
            self.assertEqual(ug.metric("ugate_turn_permissions", listener="t"), 1)
            # A Send indication to a peer without a permission is dropped silently, and counted.
            c.sock.sendto(request([(XOR_PEER_ADDRESS, xor_address("203.0.113.8", 9)), (DATA, b"x")], kind=SEND),
                          ("127.0.0.1", ug.port("t")))
            wait_until(lambda: ug.metric("ugate_turn_dropped_total", listener="t", reason="no_permission") == 1,
                       what="no_permission counted")
            self.assertIn("to a peer without a permission, dropped", ug.log())

    def test_channel_bind_conflict_is_400(self):
        with Ugate(turn_yaml()) as ug:
            c = Client(self, ug.port("t"))
            c.allocate()
            bind = lambda number, port: c.signed(CHANNEL_BIND, [(CHANNEL_NUMBER, struct.pack("!HH", number, 0)),
                                                                (XOR_PEER_ADDRESS, xor_address("127.0.0.1", port))])
            self.assertEqual(bind(0x4000, 5000).type, CHANNEL_BIND | SUCCESS)
            self.assertEqual(bind(0x4000, 5001).error(), 400)  # the number is another peer's
            self.assertEqual(bind(0x4001, 5000).error(), 400)  # the peer has another number
            self.assertEqual(bind(0x3FFF, 5002).error(), 400)  # below 0x4000
            self.assertEqual(bind(0x4000, 5000).type, CHANNEL_BIND | SUCCESS)  # a refresh
            self.assertEqual(self.refusals(ug, 400), 3)
            self.assertEqual(ug.metric("ugate_turn_channels", listener="t"), 1)

    def test_unknown_attribute_mismatch_and_transport(self):
        with Ugate(turn_yaml()) as ug:
            c = Client(self, ug.port("t"))
            c.challenge()
            reply = c.signed(ALLOCATE, [(REQUESTED_TRANSPORT, UDP), (0x0031, b"\0\0\0\0")])
            self.assertEqual(reply.error(), 420)
            self.assertEqual(reply.value(0x000A), b"\x00\x31")
            self.assertEqual(c.signed(ALLOCATE, [(REQUESTED_TRANSPORT, b"\x06\0\0\0")]).error(), 442)
            self.assertEqual(c.signed(REFRESH).error(), 437)  # no allocation yet
            self.assertEqual(c.allocate().type, ALLOCATE | SUCCESS)
            self.assertEqual(c.signed(ALLOCATE, [(REQUESTED_TRANSPORT, UDP)]).error(), 437)  # one per 5-tuple
            bob = Client(self, ug.port("t"), "bob", "builder")
            bob.sock, bob.nonce = c.sock, c.nonce  # the same 5-tuple, another user
            self.assertEqual(bob.signed(REFRESH).error(), 441)
            for code in (420, 442, 437, 441):
                self.assertEqual(self.refusals(ug, code), 1 if code != 437 else 2, code)

    def test_no_relay_port_is_508(self):
        port = free_udp_port("127.0.0.1")
        with Ugate(turn_yaml(f", relay_ports: {port}-{port}")) as ug:
            first, second = Client(self, ug.port("t")), Client(self, ug.port("t"))
            reply = first.allocate()
            self.assertEqual(reply.type, ALLOCATE | SUCCESS)
            self.assertEqual(reply.address(XOR_RELAYED_ADDRESS, xor=True), ("127.0.0.1", port))
            self.assertEqual(second.allocate().error(), 508)
            self.assertEqual(self.refusals(ug, 508), 1)
            self.assertEqual(self.refusals(ug, 486), 0)

    def test_malformed_and_truncated_messages(self):
        with Ugate(turn_yaml()) as ug:
            port = ug.port("t")
            c = Client(self, port)
            overrun = bytearray(request([(REQUESTED_TRANSPORT, UDP)], kind=ALLOCATE, fingerprint=False))
            overrun[23] = 0xF0  # the attribute's length runs past the end: 400
            self.assertEqual(c.ask(bytes(overrun)).error(), 400)
            c.sock.sendto(request([(REQUESTED_TRANSPORT, UDP)], kind=ALLOCATE)[:-6], ("127.0.0.1", port))
            c.sock.sendto(b"\x40\x00\x00\x40abc", ("127.0.0.1", port))  # truncated ChannelData
            c.sock.sendto(b"\x40\x00\x00\x03abc\0", ("127.0.0.1", port))  # ChannelData without an allocation
            wait_until(lambda: ug.metric("ugate_turn_dropped_total", listener="t", reason="malformed") >= 1,
                       what="truncated ChannelData counted")
            wait_until(lambda: ug.metric("ugate_turn_dropped_total", listener="t", reason="no_allocation") == 1,
                       what="ChannelData without allocation counted")
            self.assertEqual(self.refusals(ug, 400), 1)
            self.assertEqual(c.allocate().type, ALLOCATE | SUCCESS)  # and the process is fine
            # Binding still works on the same port.
            self.assertEqual(c.ask(request()).type, 0x0101)


class TurnConfig(unittest.TestCase):
    """`ugate check`: the turn section echoed without secrets, and what it refuses."""

    def check(self, listeners, users_file=None):
        d = temp_dir("ugate-turn-")
        path = os.path.join(d, "ugate.yaml")
        with open(path, "w") as f:
            f.write(f"listeners: {listeners}\n")
        return subprocess.run([UGATE, "check", "--config", path], capture_output=True, text=True, timeout=20)

    def test_echoed_without_secrets(self):
        d = temp_dir("ugate-turn-users-")
        users = os.path.join(d, "users")
        with open(users, "w") as f:
            f.write("# comment\ncarol:sea-shell\n")
        r = self.check(turn_yaml(f", users_file: {users}, relay_ports: 50000-50100, bandwidth: 125000"))
        self.assertEqual(r.returncode, 0, r.stderr)
        turn = json.loads(r.stdout)["listeners"][0]["turn"]
        self.assertEqual(turn["users"], ["alice", "bob", "carol"])
        self.assertEqual(turn["relay_ports"], "50000-50100")
        self.assertEqual(turn["auth_secret"], "(set)")
        self.assertEqual(turn["allow_peers"], ["127.0.0.1/32"])
        for secret in ("wonderland", "sea-shell", SECRET):
            self.assertNotIn(secret, r.stdout + r.stderr)

    def test_refused(self):
        cases = {
            "[ { name: t, address: '127.0.0.1:0', protocol: stun, turn: { realm: r } } ]": "needs users",
            "[ { name: t, address: '0.0.0.0:0', protocol: stun, turn: { realm: r, auth_secret: 0123456789abcdef } } ]":
                "relay_address",
            "[ { name: t, address: '127.0.0.1:0', protocol: tcp, forward: '127.0.0.1:1', turn: { realm: r } } ]":
                "only for stun",
            turn_yaml(", relay_ports: 9-8"): "FIRST-LAST",
            "[ { name: t, address: '127.0.0.1:0', protocol: stun, turn: { realm: r, auth_secret: short } } ]": "at least 16",
            turn_yaml(", allow_peers: [ 10.0.0.1/8 ]"): "allow_peers",
        }
        for yaml, why in cases.items():
            r = self.check(yaml)
            self.assertNotEqual(r.returncode, 0, yaml)
            self.assertIn(why, r.stderr + r.stdout, yaml)


if __name__ == "__main__":
    unittest.main()

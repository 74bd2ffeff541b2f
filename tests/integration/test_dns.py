"""The DNS listener (protocol: dns): dig (bind9-dnsutils) as the client,
dnsmasq (dnsmasq-base) as the upstream it forwards to, raw datagrams for
malformed queries."""
import ipaddress
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import unittest

from harness import UGATE, Ugate, recv_all, wait_until
from netns import Netns, NetnsUgate, add_addr, link, needs_netns
from test_capture import GID, listen_in
from test_mesh import Mesh, spiffe

BOB_ID = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst"
NODES = ("nodes:\n"
         f"  bob: {{ address: '127.0.0.1:1', id: '{BOB_ID}' }}\n"
         "  carol: { address: '127.0.0.1:1', id: 'spiffe://example.org/ns/default/sa/carol' }\n"
         "identity: { trust_domain: example.org }\n")
V4 = ipaddress.ip_network("240.240.0.0/16")
V6 = ipaddress.ip_network("fd00:0:0:53::/64")
BIG_TXT = ["x" * 200 + f"{i:02d}" for i in range(8)]  # 1.6 kB of TXT: over 512 and over EDNS's 1232


def dig(port, *args, timeout=15):
    exe = shutil.which("dig")
    assert exe, "dig (Debian package bind9-dnsutils) is needed: scripts/install-deps.sh"
    r = subprocess.run([exe, "@127.0.0.1", "-p", str(port), "+time=2", "+tries=1", *args],
                       capture_output=True, text=True, timeout=timeout)
    return r.stdout + r.stderr


def free_udp_and_tcp_port():
    """A port free on loopback for UDP and TCP (dnsmasq binds both) when looked at."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            u.bind(("127.0.0.1", 0))
            try:
                t.bind(("127.0.0.1", u.getsockname()[1]))
            except OSError:
                continue
            return u.getsockname()[1]
    raise AssertionError("no port free for both UDP and TCP")


def status(out):
    m = re.search(r"status: (\w+)", out)
    return m.group(1) if m else out


def flags(out):
    m = re.search(r"flags: ([a-z ]+);", out)
    return set(m.group(1).split()) if m else set()


def short(port, name, qtype="A", *args):
    return dig(port, "+short", name, qtype, *args).split()


class Dnsmasq:
    """dnsmasq on loopback: its own names under .test, a big TXT record, TTL 60, no other upstream."""

    def __init__(self, cleanup):
        exe = shutil.which("dnsmasq")
        assert exe, "dnsmasq (Debian package dnsmasq-base) is needed: scripts/install-deps.sh"
        txt = ",".join(f'"{t}"' for t in BIG_TXT)
        cleanup(self.stop)
        for _ in range(5):  # a port free when looked at may be taken by the time dnsmasq binds it: another
            self.port = free_udp_and_tcp_port()
            self.proc = subprocess.Popen(
                [exe, "-d", "-C", "/dev/null", "--no-resolv", "--no-hosts", "-p", str(self.port),
                 "--listen-address=127.0.0.1", "--bind-interfaces", "--pid-file=", "--user=root", "--local-ttl=60",
                 "--address=/test/127.0.0.2", f"--txt-record=big.test,{txt}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            wait_until(lambda: self.proc.poll() is not None or "127.0.0.2" in short(self.port, "ready.test"),
                       what="dnsmasq answering")
            if self.proc.poll() is None:
                return
            self.proc.stderr.close()
        raise AssertionError("dnsmasq did not start: " + self.proc.stderr.read())

    def stop(self):
        if getattr(self, "proc", None) is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc.stderr.close()


def dns_yaml(extra=""):
    return f"[ {{ name: d, address: '127.0.0.1:0', protocol: dns{extra} }} ]"


class DnsServer(unittest.TestCase):
    def gate(self, upstream_port=None, dns_extra=""):
        upstreams = f"upstreams: ['127.0.0.1:{upstream_port}'], " if upstream_port else ""
        return Ugate(dns_yaml(), extra_yaml=NODES + f"dns: {{ zone: mesh.internal, {upstreams}timeout: 500ms, "
                                                        f"attempts: 1{dns_extra} }}\n")

    def queries(self, ug, kind):
        return ug.metric("ugate_dns_queries_total", listener="d", kind=kind)

    def test_mesh_names_a_and_aaaa(self):
        with self.gate() as ug:
            port = ug.port("d")
            bob4 = short(port, "bob.mesh.internal")
            self.assertEqual(len(bob4), 1, bob4)
            self.assertIn(ipaddress.ip_address(bob4[0]), V4)
            bob6 = short(port, "bob.mesh.internal", "AAAA")
            self.assertEqual(len(bob6), 1, bob6)
            self.assertIn(ipaddress.ip_address(bob6[0]), V6)
            # The same node by its trust domain and by its node ID; another node elsewhere.
            self.assertEqual(short(port, "BOB.example.org"), bob4)
            self.assertEqual(short(port, f"{BOB_ID}.example.org", "AAAA"), bob6)
            self.assertEqual(short(port, f"{BOB_ID}.mesh.internal"), bob4)
            carol4 = short(port, "carol.mesh.internal")
            self.assertEqual(len(carol4), 1)
            self.assertNotEqual(carol4, bob4)
            out = dig(port, "bob.mesh.internal", "A")
            self.assertEqual(status(out), "NOERROR")
            self.assertIn("aa", flags(out))
            # Over TCP too.
            self.assertEqual(short(port, "bob.mesh.internal", "A", "+tcp"), bob4)
            self.assertEqual(self.queries(ug, "mesh"), 8)

    def test_nxdomain_and_no_data(self):
        with self.gate() as ug:
            port = ug.port("d")
            out = dig(port, "nobody.mesh.internal", "A")
            self.assertEqual(status(out), "NXDOMAIN", out)
            self.assertIn("SOA", out)  # a resolver may cache the absence (RFC 2308)
            self.assertEqual(status(dig(port, "deep.bob.example.org", "AAAA")), "NXDOMAIN")
            out = dig(port, "bob.mesh.internal", "TXT")
            self.assertEqual(status(out), "NOERROR")
            self.assertIn("ANSWER: 0", out)
            self.assertEqual(ug.metric("ugate_dns_answers_total", listener="d", rcode="NXDOMAIN"), 2)

    def test_forwards_caches_and_serves_within_the_ttl(self):
        upstream = Dnsmasq(self.addCleanup)
        with self.gate(upstream.port) as ug:
            port = ug.port("d")
            self.assertEqual(short(port, "www.test"), ["127.0.0.2"])
            self.assertEqual(self.queries(ug, "forwarded"), 1)
            upstream.stop()
            # Without the upstream: the cached answer, its TTL aged, while it lasts.
            time.sleep(1.1)
            out = dig(port, "www.test", "A")
            self.assertEqual(status(out), "NOERROR", out)
            ttl = int(re.search(r"www\.test\.\s+(\d+)\s+IN\s+A\s+127\.0\.0\.2", out).group(1))
            self.assertLess(ttl, 60)
            self.assertGreater(ttl, 50)
            self.assertGreaterEqual(self.queries(ug, "cached"), 1)
            self.assertGreaterEqual(ug.metric("ugate_dns_cache_entries", listener="d"), 1)
            # A name it never asked for: no upstream answers, SERVFAIL.
            self.assertEqual(status(dig(port, "other.test", "A", timeout=20)), "SERVFAIL")
            self.assertGreaterEqual(ug.metric("ugate_dns_upstream_errors_total", listener="d", reason="timeout") +
                                    ug.metric("ugate_dns_upstream_errors_total", listener="d", reason="network"), 1)

    def test_truncation_then_tcp(self):
        upstream = Dnsmasq(self.addCleanup)
        with self.gate(upstream.port) as ug:
            port = ug.port("d")
            # A client without EDNS0 takes 512 bytes: TC set, no records; +ignore keeps that answer.
            out = dig(port, "big.test", "TXT", "+ignore", "+noedns")
            self.assertIn("tc", flags(out), out)
            self.assertIn("ANSWER: 0", out)
            # dig's default (EDNS0, 1232 bytes) gets TC too, and asks again over TCP: the whole answer.
            out = dig(port, "big.test", "TXT")
            self.assertNotIn("tc", flags(out))
            self.assertIn("ANSWER: 1", out)
            for t in BIG_TXT:
                self.assertIn(t, out)
            self.assertIn("(TCP)", out)
            self.assertEqual(ug.metric("ugate_dns_upstream_errors_total", listener="d", reason="tcp_retry"), 0)

    def test_malformed_queries(self):
        with self.gate() as ug:
            port = ug.port("d")
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.addCleanup(s.close)
            s.settimeout(1)
            s.sendto(b"\x01\x02\x03", ("127.0.0.1", port))  # no header: dropped
            with self.assertRaises(socket.timeout):
                s.recvfrom(600)
            # A header asking two questions, then nothing: FORMERR with the ID.
            s.sendto(struct.pack("!HHHHHH", 0xabcd, 0x0100, 2, 0, 0, 0), ("127.0.0.1", port))
            answer, _ = s.recvfrom(600)
            ident, fl = struct.unpack("!HH", answer[:4])
            self.assertEqual((ident, fl & 0x8000, fl & 0xF), (0xabcd, 0x8000, 1))
            # A compression loop in the question.
            s.sendto(struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01", ("127.0.0.1", port))
            answer, _ = s.recvfrom(600)
            self.assertEqual(answer[3] & 0xF, 1)
            # Garbage on TCP: closed.
            c = socket.create_connection(("127.0.0.1", port), timeout=3)
            c.sendall(b"\x00\x05hello")
            self.assertEqual(c.recv(100), b"")
            c.close()
            self.assertEqual(status(dig(port, "bob.mesh.internal")), "NOERROR")  # the process is fine
            wait_until(lambda: self.queries(ug, "malformed") == 4, what="malformed queries counted")
            self.assertEqual(ug.log().count("malformed DNS query"), 1)
            self.assertEqual(ug.metric("ugate_dns_answers_total", listener="d", rcode="FORMERR"), 2)


def http_hello(conn):
    """Handler: reads a request head, answers 200 with a body that names this server."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            return
        head += chunk
    body = b"hello from bob's loopback\n"
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))


@needs_netns
class CapturedApp(unittest.TestCase):
    """An app in a namespace with `ugate capture install --dns` resolves
    bob.mesh.internal through ugate's DNS listener and reaches an HTTP server
    on bob's loopback (another namespace, another ugate) with plain curl: the
    virtual address leads into the mesh."""

    def setUp(self):
        self.mesh = Mesh()
        self.addCleanup(self.mesh.close)
        self.a, self.b = Netns("da"), Netns("db")
        self.addCleanup(self.a.delete)
        self.addCleanup(self.b.delete)
        # The app's resolver: an address on the link where no server is; port 53 is captured anyway.
        self.etc = f"/etc/netns/{self.a.name}"
        if not os.path.isdir("/etc/netns"):  # ip netns exec bind-mounts the files found here
            os.mkdir("/etc/netns")
            self.addCleanup(lambda: os.path.isdir("/etc/netns") and not os.listdir("/etc/netns") and os.rmdir("/etc/netns"))
        os.mkdir(self.etc)
        self.addCleanup(shutil.rmtree, self.etc, True)
        with open(os.path.join(self.etc, "resolv.conf"), "w") as f:
            f.write("nameserver 10.78.0.53\n")
        link(self.a, "a0", self.b, "b0")
        add_addr(self.a, "a0", "10.78.0.1/24")
        add_addr(self.b, "b0", "10.78.0.2/24")
        server = listen_in(self.b, socket.AF_INET, "127.0.0.1", 8080, http_hello)  # bob's loopback only
        self.addCleanup(server.close)

    def node(self, ns, name, listeners, extra="", gid=None):
        yaml = f"identity: {{ name: {name}, dns: [localhost], ca: {{ dir: '{self.mesh.ca}' }} }}\n{extra}"
        ug = NetnsUgate(ns, listeners, gid=gid, extra_yaml=yaml)
        ug.start()
        self.addCleanup(ug.__exit__, None, None, None)
        return ug

    def test_curl_reaches_bob_by_its_mesh_name(self):
        self.node(self.b, "bob", "[ { name: mesh, address: '10.78.0.2:15008', protocol: mesh } ]")
        nodes = f"nodes:\n  bob: {{ address: '10.78.0.2:15008', id: '{spiffe('bob')}' }}\ndns: {{ zone: mesh.internal }}\n"
        alice = self.node(self.a, "alice", "[ { name: capture-out, address: '0.0.0.0:15001', protocol: capture-out },"
                                           "  { name: dns, address: '127.0.0.1:15053', protocol: dns } ]",
                          nodes, gid=GID)
        self.a.run(UGATE, "capture", "install", "--dns", "--gid", str(GID), "--ipv4-only")
        # What the app's resolver (libc, /etc/resolv.conf) sees: the name's virtual address.
        hosts = self.a.run("getent", "ahostsv4", "bob.mesh.internal").stdout.split()
        self.assertIn(ipaddress.ip_address(hosts[0]), V4, hosts)
        r = self.a.run("curl", "-sS", "-m", "10", "http://bob.mesh.internal:8080/", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "hello from bob's loopback\n")
        self.assertGreaterEqual(alice.metric("ugate_dns_queries_total", listener="dns", kind="mesh"), 1)
        # And nothing reaches it once the rules are gone.
        self.a.run(UGATE, "capture", "remove", "--ipv4-only")
        self.assertNotEqual(self.a.run("getent", "ahostsv4", "bob.mesh.internal", check=False).returncode, 0)
        self.assertEqual(self.a.run("ip", "-4", "route", "show", "proto", "153").stdout.strip(), "")


if __name__ == "__main__":
    unittest.main()

"""Capture doors (capture-out / capture-in) with real iptables rules, in network
namespaces the tests create and delete."""
import json
import os
import socket
import unittest

from harness import UGATE, Server, access_fields, recv_all, wait_until
from netns import Netns, NetnsUgate, add_addr, link, tproxy_gateway, needs_netns

GID = 54321  # ugate's group in these tests: the owner match keeps its own connections out of capture


def tagged_echo(tag):
    """Handler: after the client's EOF, answers tag + everything it received."""
    def handler(conn):
        conn.sendall(tag + recv_all(conn))
    return handler


def listen_in(ns, family, addr, port, handler):
    def make():
        s = socket.socket(family)
        s.bind((addr, port))
        s.listen(16)
        return s
    return Server(handler, sock=ns.call(make))


def exchange(ns, family, addr, port, payload):
    """Connects from inside `ns`, sends payload, half-closes; returns the answer."""
    c = ns.call(lambda: socket.create_connection((addr, port), timeout=10) if family == socket.AF_INET
                else _connect6(addr, port))
    with c:
        c.sendall(payload)
        c.shutdown(socket.SHUT_WR)
        return recv_all(c)


def _connect6(addr, port):
    s = socket.socket(socket.AF_INET6)
    s.settimeout(10)
    s.connect((addr, port))
    return s


def refused(ns, addr, port):
    """True when a connection from `ns` is reset before any answer."""
    try:
        c = ns.call(lambda: socket.create_connection((addr, port), timeout=10))
    except ConnectionResetError:
        return True  # the reset came before connect() returned
    with c:
        try:
            c.sendall(b"hello")
            return c.recv(100) == b""  # a reset may also read as EOF once the FIN raced it
        except (ConnectionResetError, BrokenPipeError):
            return True


@needs_netns
class CaptureRedirect(unittest.TestCase):
    """Sidecar model: ugate runs in the client's namespace, an OUTPUT rule
    REDIRECTs the client's connections to it, and the owner match keeps
    ugate's own connections to the original destination out of capture."""

    @classmethod
    def setUpClass(cls):
        cls.c, cls.s = Netns("rc"), Netns("rs")
        # A class cleanup runs even when the rest of this set-up fails (tearDownClass would not).
        cls.addClassCleanup(cls.clean_up)
        c, s = cls.c, cls.s
        link(c, "c0", s, "s0")
        add_addr(c, "c0", "10.77.0.1/24")
        add_addr(c, "c0", "fd77::1/64")
        for cidr in ("10.77.0.2/24", "10.77.0.3/24", "fd77::2/64"):
            add_addr(s, "s0", cidr)
        cls.servers = [listen_in(s, socket.AF_INET, "10.77.0.2", 8001, tagged_echo(b"A:")),
                       listen_in(s, socket.AF_INET, "10.77.0.3", 8002, tagged_echo(b"B:")),
                       listen_in(s, socket.AF_INET6, "fd77::2", 8001, tagged_echo(b"C:"))]
        cls.p4, cls.p6 = 15101, 15106
        # Port 8002 goes to the dual-stack listener: an IPv4 connection seen as ::ffff:a.b.c.d.
        for rule in (["-m", "owner", "--gid-owner", GID, "-j", "RETURN"],
                     ["-d", "127.0.0.0/8", "-j", "RETURN"],
                     ["-p", "tcp", "--dport", 8002, "-j", "REDIRECT", "--to-ports", cls.p6],
                     ["-p", "tcp", "-j", "REDIRECT", "--to-ports", cls.p4]):
            c.run("iptables", "-t", "nat", "-A", "OUTPUT", *rule)
        for rule in (["-m", "owner", "--gid-owner", GID, "-j", "RETURN"],
                     ["-d", "::1", "-j", "RETURN"],
                     ["-p", "tcp", "-j", "REDIRECT", "--to-ports", cls.p6]):
            c.run("ip6tables", "-t", "nat", "-A", "OUTPUT", *rule)
        # Connections to 127.0.0.2 are not tracked: conntrack has no original destination for them.
        for rule in (["-d", "127.0.0.2"], ["-s", "127.0.0.2"]):
            c.run("iptables", "-t", "raw", "-A", "OUTPUT", "-p", "tcp", *rule, "-j", "CT", "--notrack")
        yaml = (f"[ {{ name: out4, address: '0.0.0.0:{cls.p4}', protocol: capture-out }},"
                f"  {{ name: out6, address: '[::]:{cls.p6}', protocol: capture-out }} ]")
        cls.ug = NetnsUgate(c, yaml, gid=GID)
        cls.ug.start()

    @classmethod
    def clean_up(cls):
        if getattr(cls, "ug", None):
            cls.ug.__exit__(None, None, None)
        for srv in getattr(cls, "servers", []):
            srv.close()
        cls.c.delete()
        cls.s.delete()

    def test_ipv4_connections_reach_their_original_destinations_bytes_exact(self):
        payload = os.urandom(1 << 20)
        self.assertEqual(exchange(self.c, socket.AF_INET, "10.77.0.2", 8001, payload), b"A:" + payload)
        self.assertEqual(exchange(self.c, socket.AF_INET, "10.77.0.3", 8002, payload[:4096]), b"B:" + payload[:4096])
        big = lambda: access_fields(self.ug, lambda f: f["orig_dst"] == "10.77.0.2:8001" and
                                    f["bytes_up"] == str(len(payload)))
        wait_until(lambda: big() and access_fields(self.ug, lambda f: f["orig_dst"] == "10.77.0.3:8002"),
                   what="access log")
        a = big()
        self.assertEqual(len(a), 1, self.ug.access_lines())
        self.assertEqual((a[0]["listener"], a[0]["upstream"], a[0]["bytes_down"]), ("out4", "10.77.0.2:8001",
                                                                                   str(len(payload) + 2)))
        b = access_fields(self.ug, lambda f: f["orig_dst"] == "10.77.0.3:8002")
        self.assertEqual(b[0]["listener"], "out6", "IPv4 on the dual-stack listener")
        self.assertEqual(b[0]["result"], "done")

    def test_ipv6_connection_is_captured(self):
        payload = os.urandom(256 * 1024)
        self.assertEqual(exchange(self.c, socket.AF_INET6, "fd77::2", 8001, payload), b"C:" + payload)
        wait_until(lambda: access_fields(self.ug, lambda f: f["orig_dst"] == "[fd77::2]:8001"), what="access log")
        f = access_fields(self.ug, lambda f: f["orig_dst"] == "[fd77::2]:8001")[0]
        self.assertEqual((f["listener"], f["upstream"], f["result"]), ("out6", "[fd77::2]:8001", "done"))

    def test_debug_streams_show_the_original_destination(self):
        c = self.c.call(lambda: socket.create_connection(("10.77.0.2", 8001), timeout=10))
        with c:
            c.sendall(b"x")
            def open_stream():
                streams = json.loads(self.ug.get("/debug/streams")[1])
                return [s for s in streams if s["orig_dst"] == "10.77.0.2:8001" and s["phase"] == "proxying"]
            s = wait_until(open_stream, what="the stream in /debug/streams")[0]
            self.assertEqual((s["listener"], s["dst"]), ("out4", "10.77.0.2:8001"))
            c.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_all(c), b"A:x")

    def test_loops_and_uncaptured_connections_are_refused_and_counted(self):
        loops = self.ug.metric("ugate_listener_errors_total", listener="out4", reason="capture_loop")
        # Straight to the capture port (not redirected: conntrack reports the port itself) ...
        self.assertTrue(refused(self.c, "127.0.0.1", self.p4))
        # ... and redirected, but its original destination is the capture port on this host.
        self.assertTrue(refused(self.c, "10.77.0.1", self.p4))
        wait_until(lambda: self.ug.metric("ugate_listener_errors_total", listener="out4",
                                          reason="capture_loop") == loops + 2, what="capture_loop counted twice")
        # Not tracked at all: no original destination.
        self.assertTrue(refused(self.c, "127.0.0.2", self.p4))
        wait_until(lambda: self.ug.metric("ugate_listener_errors_total", listener="out4",
                                          reason="no_original_dst") == 1, what="no_original_dst counted")
        self.assertIn("capture port itself", self.ug.log())
        self.assertIsNone(self.ug.proc.poll())


@needs_netns
class CaptureTproxy(unittest.TestCase):
    """Gateway model: the client's traffic to another network passes through
    ugate's namespace, where a TPROXY rule hands it to a transparent listener;
    the accepted socket's local address is the original destination."""

    def setUp(self):
        self.port = 15201
        self.c, self.g, self.s = tproxy_gateway(self, "t", "10.78", ["tcp"], self.port)

    def test_tproxy_connection_reaches_the_server_through_ugate(self):
        peers = []

        def handler(conn):
            peers.append(conn.getpeername()[0])
            tagged_echo(b"S:")(conn)

        server = listen_in(self.s, socket.AF_INET, "10.78.2.2", 9001, handler)
        self.addCleanup(server.close)
        yaml = f"[ {{ name: gw, address: '0.0.0.0:{self.port}', protocol: capture-out, tproxy: true }} ]"
        with NetnsUgate(self.g, yaml) as ug:
            payload = os.urandom(1 << 20)
            self.assertEqual(exchange(self.c, socket.AF_INET, "10.78.2.2", 9001, payload), b"S:" + payload)
            # Routed without ugate, the server would see the client's own address.
            self.assertEqual(peers, ["10.78.2.1"])
            wait_until(lambda: access_fields(ug, lambda f: f["listener"] == "gw"), what="access log")
            f = access_fields(ug, lambda f: f["listener"] == "gw")[0]
            self.assertTrue(f["src"].startswith("10.78.1.2:"), f)
            self.assertEqual((f["orig_dst"], f["upstream"], f["result"]), ("10.78.2.2:9001", "10.78.2.2:9001", "done"))
            self.assertEqual(f["bytes_up"], str(len(payload)))
            # Straight to the transparent listener's own port: its local address is the port itself.
            self.assertTrue(refused(self.c, "10.78.1.1", self.port))
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="gw", reason="capture_loop") == 1,
                       what="capture_loop counted")



def saved_rules(ns):
    """Every rule and user chain of both families, as comparable lines (empty
    tables, policies and counters left out: they are not anybody's rules)."""
    out = []
    for tool in ("iptables-save", "ip6tables-save"):
        table = None
        for line in ns.run(tool).stdout.splitlines():
            if line.startswith("*"):
                table = line
            elif line.startswith("-A") or (line.startswith(":") and line.split()[1] == "-"):
                out.append(f"{tool} {table} {line.split(' [')[0]}")
    for fam in ("-4", "-6"):
        out += [f"ip {fam} rule: {l.strip()}" for l in ns.run("ip", fam, "rule", "show").stdout.splitlines()]
        routes = ns.run("ip", fam, "route", "show", "table", "133", check=False).stdout.splitlines()
        out += [f"ip {fam} table 133: {l.strip()}" for l in routes]
    return sorted(out)


@needs_netns
class CaptureRules(unittest.TestCase):
    """`ugate capture install|remove` in a namespace (the host's tables are not
    touched), with ugate then capturing through the rules it wrote."""

    def setUp(self):
        self.c, self.s = Netns("ic"), Netns("is")
        self.addCleanup(lambda: [ns.delete() for ns in (self.c, self.s)])
        link(self.c, "c0", self.s, "s0")
        add_addr(self.c, "c0", "10.79.0.1/24")
        add_addr(self.s, "s0", "10.79.0.2/24")
        # Somebody else's rules, which install and remove must leave alone.
        self.c.run("iptables", "-t", "nat", "-N", "MINE")
        self.c.run("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "udp", "--dport", "53", "-j", "MINE")
        self.c.run("ip6tables", "-t", "mangle", "-A", "PREROUTING", "-p", "udp", "-j", "RETURN")

    def capture(self, *args):
        r = self.c.run(UGATE, "capture", *args, check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_install_capture_remove(self):
        out_port, in_port = 15301, 15306
        before = saved_rules(self.c)
        install = ("install", "--gid", GID, "--outbound-port", out_port, "--inbound-tproxy", "--inbound-port",
                   in_port, "--inbound-exclude-ports", "7002,22")
        printed = self.capture(*install, "--dry-run")
        self.assertIn(f"iptables -w -t nat -A UGATE_OUTPUT -m owner --gid-owner {GID} -j RETURN", printed)
        self.assertIn("ip6tables -w -t mangle -A UGATE_IN_TPROXY -p tcp -j TPROXY", printed)
        self.assertEqual(saved_rules(self.c), before, "--dry-run changes nothing")

        self.capture(*install)
        installed = saved_rules(self.c)
        self.assertIn(f"iptables-save *nat -A UGATE_OUTPUT -m owner --gid-owner {GID} -j RETURN", installed)
        self.assertIn("iptables-save *nat -A OUTPUT -p tcp -j UGATE_OUTPUT", installed)
        self.assertIn("ip -4 table 133: local default dev lo scope host", installed)
        self.capture(*install)
        self.assertEqual(saved_rules(self.c), installed, "installing twice is installing once")

        # Outbound through capture-out; inbound through the transparent capture-in to an app
        # in the same namespace; an excluded inbound port straight to its app.
        servers = [listen_in(self.s, socket.AF_INET, "10.79.0.2", 8001, tagged_echo(b"S:")),
                   listen_in(self.c, socket.AF_INET, "10.79.0.1", 7001, tagged_echo(b"APP:")),
                   listen_in(self.c, socket.AF_INET, "10.79.0.1", 7002, tagged_echo(b"SSH:"))]
        for srv in servers:
            self.addCleanup(srv.close)
        yaml = (f"[ {{ name: out, address: '0.0.0.0:{out_port}', protocol: capture-out }},"
                f"  {{ name: in, address: '0.0.0.0:{in_port}', protocol: capture-in, tproxy: true }} ]")
        with NetnsUgate(self.c, yaml, gid=GID) as ug:
            payload = os.urandom(300 * 1024)
            self.assertEqual(exchange(self.c, socket.AF_INET, "10.79.0.2", 8001, payload), b"S:" + payload)
            self.assertEqual(exchange(self.s, socket.AF_INET, "10.79.0.1", 7001, payload), b"APP:" + payload)
            self.assertEqual(exchange(self.s, socket.AF_INET, "10.79.0.1", 7002, b"hi"), b"SSH:hi")
            wait_until(lambda: len(ug.access_lines()) >= 2, what="access log")
            # One stream each: ugate's own connections (group GID) were not captured again.
            self.assertEqual(ug.metric("ugate_listener_accepted_total", listener="out"), 1)
            self.assertEqual(ug.metric("ugate_listener_accepted_total", listener="in"), 1)
            f = access_fields(ug, lambda f: f["listener"] == "in")[0]
            self.assertEqual((f["orig_dst"], f["upstream"], f["result"]), ("10.79.0.1:7001", "10.79.0.1:7001", "done"))
            self.assertTrue(f["src"].startswith("10.79.0.2:"), f)

        self.capture("remove")
        self.assertEqual(saved_rules(self.c), before, "remove leaves nothing of ours, and the rest as it was")
        self.assertEqual(self.capture("remove", "--dry-run"), "", "nothing left to remove")

    def test_refuses_outbound_without_the_owner_exclusion(self):
        r = self.c.run(UGATE, "capture", "install", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("give --uid or --gid", r.stderr)
        r = self.c.run(UGATE, "capture", "install", "--uid", "no-such-user-here", check=False)
        self.assertIn("--uid: no such user 'no-such-user-here'", r.stderr)


if __name__ == "__main__":
    unittest.main()

"""UDP listeners (protocol: udp): the per-client NAT table with socat and ncat
as clients, and UDP TPROXY capture in network namespaces."""
import json
import os
import select
import socket
import subprocess
import threading
import time
import unittest

from harness import Server, Ugate, access_fields, closed_port, recv_all, wait_until
from netns import NetnsUgate, tproxy_gateway, needs_netns


class UdpEcho:
    """Answers each datagram with tag + the datagram; remembers who sent what."""

    def __init__(self, tag=b"", sock=None, family=socket.AF_INET, addr="127.0.0.1"):
        self.sock = sock or socket.socket(family, socket.SOCK_DGRAM)
        if not sock:
            self.sock.bind((addr, 0))
        self.port = self.sock.getsockname()[1]
        self.tag = tag
        self.peers = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(65536)
            except OSError:
                return
            self.peers.append(peer)
            self.sock.sendto(self.tag + data, peer)

    def close(self):
        self.sock.close()


def socat(port, payload, host="127.0.0.1"):
    r = subprocess.run(["socat", "-t", "2", "-T", "2", "-", f"UDP:{host}:{port}"], input=payload, capture_output=True,
                       timeout=20)
    return r.stdout


def ncat(port, line):
    """ncat -u sends a line as a datagram and prints the answer; its stdin stays
    open meanwhile (at stdin's end it may quit before the answer arrives)."""
    p = subprocess.Popen(["ncat", "-u", "127.0.0.1", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        p.stdin.write(line)
        p.stdin.flush()
        ready, _, _ = select.select([p.stdout], [], [], 5)
        return os.read(p.stdout.fileno(), 65536) if ready else b""
    finally:
        p.kill()
        p.wait()
        p.stdin.close()
        p.stdout.close()


class UdpForward(unittest.TestCase):
    def setUp(self):
        self.echo = UdpEcho(b"echo:")
        self.addCleanup(self.echo.close)

    def ugate(self, **opts):
        """ugate with the udp listener `u` on a port the kernel picks: ug.port("u")."""
        extra = "".join(f", {k}: {v}" for k, v in opts.items())
        return Ugate(f"[ {{ name: u, address: '127.0.0.1:0', protocol: udp, "
                     f"forward: '127.0.0.1:{self.echo.port}'{extra} }} ]")

    def test_socat_and_ncat_through_the_forward_then_the_entry_expires(self):
        with self.ugate(idle_timeout="700ms") as ug:
            self.assertEqual(socat(ug.port("u"), b"hello from socat\n"), b"echo:hello from socat\n")
            self.assertEqual(ncat(ug.port("u"), b"from ncat\n"), b"echo:from ncat\n")
            self.assertEqual(ug.metric("ugate_udp_packets_total", listener="u", direction="up"), 2)
            self.assertEqual(ug.metric("ugate_udp_packets_total", listener="u", direction="down"), 2)
            self.assertEqual(ug.metric("ugate_listener_bytes_total", listener="u", direction="up"), 27)
            self.assertEqual(ug.metric("ugate_listener_accepted_total", listener="u"), 2, "one entry per client")
            self.assertEqual(len(set(self.echo.peers)), 2, "one upstream socket per client")
            # Both entries expire after the idle timeout; the metrics and the access log say so.
            wait_until(lambda: ug.metric("ugate_listener_active_streams", listener="u") == 0, timeout=5,
                       what="NAT entries expired")
            self.assertEqual(ug.metric("ugate_listener_errors_total", listener="u", reason="idle_timeout"), 2)
            wait_until(lambda: len(ug.access_lines()) == 2, what="access log")
            for line in ug.access_lines():
                self.assertIn("protocol=udp", line)
                self.assertIn("mode=datagram", line)
                self.assertIn("result=idle_timeout", line)

    def test_one_client_keeps_its_entry_and_order(self):
        with self.ugate() as ug, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(5)
            c.connect(("127.0.0.1", ug.port("u")))
            for i in range(200):
                c.send(b"%d" % i + b"x" * (i * 50))
                self.assertEqual(c.recv(65536), b"echo:%d" % i + b"x" * (i * 50))
            big = b"B" * 60000
            c.send(big)
            self.assertEqual(c.recv(65536), b"echo:" + big)
            self.assertEqual(len(set(self.echo.peers)), 1)
            flows = [s for s in json.loads(ug.get("/debug/streams")[1]) if s["listener"] == "u"]
            self.assertEqual(len(flows), 1)
            self.assertEqual((flows[0]["packets_up"], flows[0]["packets_down"]), (201, 201))
            self.assertEqual(flows[0]["src"], "127.0.0.1:%d" % c.getsockname()[1])
            self.assertEqual(flows[0]["upstream"], "127.0.0.1:%d" % self.echo.port)

    def test_the_table_is_bounded_and_the_drop_counted(self):
        with self.ugate(max_streams=2) as ug:
            clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
            try:
                for i, c in enumerate(clients):  # one after the other: they may land on different workers
                    c.settimeout(1)
                    c.sendto(b"c%d" % i, ("127.0.0.1", ug.port("u")))
                    if i < 2:
                        self.assertEqual(c.recv(100), b"echo:c%d" % i)
                with self.assertRaises(socket.timeout):
                    clients[2].recv(100)
            finally:
                for c in clients:
                    c.close()
            self.assertEqual(ug.metric("ugate_udp_drops_total", listener="u", reason="flow_limit"), 1)
            self.assertEqual(ug.metric("ugate_listener_active_streams", listener="u"), 2)
            self.assertIn("the NAT table is full", ug.log())

    def test_drain_ends_quiet_flows_without_waiting_for_their_idle_timeout(self):
        ug = self.ugate(idle_timeout="1h")
        with ug:
            self.assertEqual(socat(ug.port("u"), b"before drain\n"), b"echo:before drain\n")
            started = time.monotonic()
            self.assertEqual(ug.stop(), 0)
            self.assertLess(time.monotonic() - started, 5, "drain_timeout is 10s: the flow ended on its own")
            self.assertIn("result=drained", ug.access_lines()[0])

    def test_unreachable_upstream_is_counted_and_the_process_stays_up(self):
        dead = closed_port(self.addCleanup, udp=True)  # nothing listens: the kernel answers ICMP port unreachable
        with Ugate(f"[ {{ name: u, address: '127.0.0.1:0', protocol: udp, "
                   f"forward: '127.0.0.1:{dead}' }} ]") as ug, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            for _ in range(3):
                c.sendto(b"anyone?", ("127.0.0.1", ug.port("u")))
            wait_until(lambda: ug.metric("ugate_udp_drops_total", listener="u", reason="upstream_unreachable") >= 1,
                       what="upstream_unreachable counted")
            self.assertEqual(socat(ug.port("u"), b"still\n"), b"")
            self.assertIsNone(ug.proc.poll())


@needs_netns
class UdpTproxy(unittest.TestCase):
    """A client's datagrams to another network pass through ugate's namespace,
    where TPROXY hands them to a transparent UDP listener; the replies must come
    from the original destination, or the client would not take them."""

    def setUp(self):
        self.port = 15407
        self.c, self.g, self.s = tproxy_gateway(self, "u", "10.80", ["udp"], self.port)

    def test_round_trip_with_the_reply_from_the_original_destination(self):
        def bound(port):
            def make():
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.bind(("10.80.2.2", port))
                return sock
            return make
        servers = [UdpEcho(b"S1:", sock=self.s.call(bound(5301))), UdpEcho(b"S2:", sock=self.s.call(bound(5302)))]
        for srv in servers:
            self.addCleanup(srv.close)
        yaml = f"[ {{ name: tp, address: '0.0.0.0:{self.port}', protocol: udp, tproxy: true, idle_timeout: 5s }} ]"
        with NetnsUgate(self.g, yaml) as ug:
            # socat connects its socket: it only takes a reply from 10.80.2.2:5301 itself.
            r = self.c.run("socat", "-t", "2", "-T", "2", "-", "UDP4:10.80.2.2:5301", input="via tproxy\n")
            self.assertEqual(r.stdout, "S1:via tproxy\n", r.stderr + ug.log())
            # An unconnected socket shows where each reply came from.
            sock = self.c.call(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            with sock:
                sock.settimeout(5)
                for port, tag in ((5301, b"S1:"), (5302, b"S2:"), (5301, b"S1:")):
                    sock.sendto(b"ping", ("10.80.2.2", port))
                    data, source = sock.recvfrom(100)
                    self.assertEqual((data, source), (tag + b"ping", ("10.80.2.2", port)))
            # The servers saw ugate's namespace, not the client: the datagrams went through it.
            self.assertEqual({p[0] for srv in servers for p in srv.peers}, {"10.80.2.1"})
            flows = [f for f in json.loads(ug.get("/debug/streams")[1]) if f["listener"] == "tp"]
            self.assertEqual(sorted(f["orig_dst"] for f in flows), ["10.80.2.2:5301", "10.80.2.2:5301",
                                                                   "10.80.2.2:5302"])
            self.assertEqual(ug.metric("ugate_udp_packets_total", listener="tp", direction="down"), 4)
            # Straight to the listener's own port: a loop, dropped and counted.
            sock = self.c.call(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            with sock:
                sock.sendto(b"loop", ("10.80.1.1", self.port))
            wait_until(lambda: ug.metric("ugate_udp_drops_total", listener="tp", reason="capture_loop") == 1,
                       what="capture_loop counted")


@needs_netns
class TproxyIpv6(unittest.TestCase):
    """IPv6 through the same gateway: UDP and TCP TPROXY share one port number
    on a dual-stack address."""

    def test_udp_and_tcp_round_trips(self):
        port = 15500
        c, g, s = tproxy_gateway(self, "6", "fd81", ["udp", "tcp"], port, v6=True)

        def bound(kind, p):
            def make():
                sock = socket.socket(socket.AF_INET6, kind)
                sock.bind(("fd81:2::2", p))
                if kind == socket.SOCK_STREAM:
                    sock.listen()
                return sock
            return make
        udp = UdpEcho(b"U:", sock=s.call(bound(socket.SOCK_DGRAM, 5301)))
        tcp = Server(lambda conn: conn.sendall(b"T:" + recv_all(conn)), sock=s.call(bound(socket.SOCK_STREAM, 5302)))
        self.addCleanup(udp.close)
        self.addCleanup(tcp.close)
        yaml = (f"[ {{ name: u6, address: '[::]:{port}', protocol: udp, tproxy: true }},"
                f"  {{ name: t6, address: '[::]:{port}', protocol: capture-out, tproxy: true }} ]")
        with NetnsUgate(g, yaml) as ug:
            sock = c.call(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
            with sock:
                sock.settimeout(5)
                sock.sendto(b"ping", ("fd81:2::2", 5301))
                self.assertEqual(sock.recvfrom(100)[:2], (b"U:ping", ("fd81:2::2", 5301, 0, 0)))
            conn = c.call(lambda: socket.create_connection(("fd81:2::2", 5302), timeout=5))
            with conn:
                conn.sendall(b"hi")
                conn.shutdown(socket.SHUT_WR)
                self.assertEqual(recv_all(conn), b"T:hi")
            self.assertEqual([p[0] for p in udp.peers], ["fd81:2::1"], "through the gateway")
            streams = json.loads(ug.get("/debug/streams")[1])
            self.assertEqual([f["orig_dst"] for f in streams if f["listener"] == "u6"], ["[fd81:2::2]:5301"])
            t6 = lambda: access_fields(ug, lambda f: f["listener"] == "t6")
            wait_until(t6, what="access log")
            self.assertEqual(t6()[0]["orig_dst"], "[fd81:2::2]:5302")


if __name__ == "__main__":
    unittest.main()

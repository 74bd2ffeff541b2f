"""Faults between real ugate processes, in network namespaces the test makes and deletes, 100 cycles
each: a lossy, slow, reordering link between two nodes (HBONE and a plain tcp forward over it); the
link taken down and up during transfers; an upstream killed in the middle of a transfer; a gateway
restarted while a node behind NAT (reverse registration) has streams open.

Every transfer sends seeded bytes both ways and either ends byte-exact (SHA-256 of each direction)
or fails, and then the node its client talked to logged a reason for it (access log, matched by
the client's address) that /metrics counts: each node's errors by reason equal the reasons of its
access-log lines, exactly. No transfer hangs: a client waits at most CLIENT_TIMEOUT, well above
the nodes' idle timeout. Afterwards nothing is left: /debug/streams is empty, descriptors are back
where a warm-up left them, memory within RSS_SLACK of it, and a reverse registration comes back
within its backoff.

This kernel has no sch_netem (no module to load), so the lossy link is netem's job done in user
space (lossy_link.py: two TUN devices and a packet loop that drops, delays and reorders).
"""
import collections
import concurrent.futures
import hashlib
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest

from harness import SANITIZED, Server, listening_port, wait_until
from netns import Netns, NetnsUgate, add_addr, link, needs_netns, sh
from test_mesh import Mesh, spiffe
from test_reverse import registered

KIB = 1 << 10
CYCLES = 100
CLIENT_TIMEOUT = 20          # seconds; the nodes' idle_timeout (IDLE) ends a stalled stream long before
IDLE = "4s"
# Memory may grow this much over a warm-up of the same shape (justified in settled()).
RSS_SLACK = 8 << 20
PIPES_KEPT = 2 * 32 * 2  # two descriptors a pipe, PipePool::kKeep pipes kept per worker, two workers
HERE = os.path.dirname(os.path.abspath(__file__))

# What a client sends first: the seed of the bytes the server sends back, their count (the client
# sends as many, seeded seed+1), and the pace of both (bytes per second; 0: as fast as TCP goes).
HEADER = struct.Struct("!QII")


def payload(seed, size):
    return random.Random(seed).randbytes(size)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def send_paced(sock, data, rate, chunk=16 * KIB):
    start = time.monotonic()
    for off in range(0, len(data), chunk):
        if rate:
            ahead = start + off / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        sock.sendall(data[off:off + chunk])


def recv_digest(sock):
    h, n = hashlib.sha256(), 0
    while data := sock.recv(256 * KIB):
        h.update(data)
        n += len(data)
    return n, h.hexdigest()


def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        data = sock.recv(n - len(out))
        if not data:
            raise ConnectionError("closed in the header")
        out += data
    return out


class Upstream:
    """The server end, in a namespace: per connection, the header, then payload(seed) back (paced)
    while what the client sends is hashed into `received[seed]`."""

    def __init__(self, ns, host="0.0.0.0"):
        def bound():
            s = socket.socket()
            s.bind((host, 0))
            s.listen(256)
            return s

        self.received = {}
        self.server = Server(self.handle, sock=ns.call(bound))
        self.port = self.server.port

    def handle(self, conn):
        conn.settimeout(CLIENT_TIMEOUT)
        seed, size, rate = HEADER.unpack(recv_exact(conn, HEADER.size))

        def down():
            try:
                send_paced(conn, payload(seed, size), rate)
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the fault under test; the client's side tells

        t = threading.Thread(target=down)
        t.start()
        try:
            self.received[seed] = recv_digest(conn)
        finally:
            t.join(CLIENT_TIMEOUT)

    def close(self):
        self.server.close()


# The same server as a process of its own, to be killed: python3 -c UPSTREAM_PROCESS PORT. It reads
# what the client sends only once it has sent its answer (a request read later), so when it is killed
# mid-answer its socket holds unread bytes and the kernel resets the connection, which a proxy can
# tell from an end. Killed with nothing unread it would close cleanly (FIN): to every proxy that is
# an answer that ended early, which only the client can know.
UPSTREAM_PROCESS = r"""
import random, socket, struct, sys, threading, time
H = struct.Struct("!QII")
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(64)
def serve(c):
    c.settimeout(30)
    head = b""
    while len(head) < H.size:
        d = c.recv(H.size - len(head))
        if not d: return
        head += d
    seed, size, rate = H.unpack(head)
    data, start = random.Random(seed).randbytes(size), time.monotonic()
    for off in range(0, size, 16384):
        ahead = start + off / rate - time.monotonic()
        if ahead > 0: time.sleep(ahead)
        c.sendall(data[off:off + 16384])
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536): pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


class Transfer:
    """One client's transfer through a node's listener; `error` is empty when both directions
    ended byte-exact as far as the client can tell."""

    def __init__(self, listener, seed, size):
        self.listener, self.seed, self.size = listener, seed, size
        self.src = ""
        self.error = ""
        self.got = None

    def __repr__(self):
        return f"<{self.listener} seed={self.seed} src={self.src} {self.error or 'ok'}>"


def run_transfer(ns, listener, port, seed, size, rate=0, connect=None, progress=None):
    """Connects from `ns` to 127.0.0.1:port (an HTTP CONNECT to `connect` first, when given), then
    sends and receives `size` seeded bytes at `rate`. `progress` (a threading.Event) is set once
    some bytes came back."""
    t = Transfer(listener, seed, size)
    try:
        sock = ns.call(lambda: socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT))
    except OSError as e:
        t.error = f"connect: {e!r}"
        return t
    upload_error = []
    with sock:
        t.src = "%s:%d" % sock.getsockname()[:2]
        try:
            if connect:
                sock.sendall(f"CONNECT {connect} HTTP/1.1\r\nHost: {connect}\r\n\r\n".encode())
                head = b""
                while b"\r\n\r\n" not in head:
                    data = sock.recv(1)
                    if not data:
                        raise ConnectionError(f"closed in the CONNECT answer {head!r}")
                    head += data
                if not head.startswith(b"HTTP/1.1 200"):
                    raise ConnectionError(f"CONNECT answered {head.splitlines()[0]!r}")
        except TimeoutError:
            t.error = "hang: no CONNECT answer"
            return t
        except OSError as e:
            t.error = f"connect: {e!r}"
            return t

        def up():
            try:
                sock.sendall(HEADER.pack(seed, size, rate))
                send_paced(sock, payload(seed + 1, size), rate)
                sock.shutdown(socket.SHUT_WR)
            except OSError as e:
                upload_error.append(e)

        sender = threading.Thread(target=up)
        sender.start()
        h, n = hashlib.sha256(), 0
        try:
            while data := sock.recv(256 * KIB):
                h.update(data)
                n += len(data)
                if progress:
                    progress.set()
        except TimeoutError:
            t.error = f"hang: nothing for {CLIENT_TIMEOUT}s after {n} bytes"
        except OSError as e:
            t.error = f"download: {e!r} after {n} bytes"
        sender.join(CLIENT_TIMEOUT)
        t.got = (n, h.hexdigest())
        if t.error:
            return t
        if isinstance(upload_error[0] if upload_error else None, TimeoutError):
            t.error = "hang: upload stalled"
        elif upload_error:
            t.error = f"upload: {upload_error[0]!r}"
        elif t.got != (size, sha(payload(seed, size))):
            t.error = f"short: {n} of {size} bytes"
    return t


def during_transfers(ns, targets, seeds, size, rate, fault=None):
    """A transfer from `ns` to each of `targets` ({listener: (port, CONNECT target or None)}) at
    once; once each has received some bytes (or 5 s passed), fault(); the transfers."""
    events = {l: threading.Event() for l in targets}
    with concurrent.futures.ThreadPoolExecutor(len(targets)) as pool:
        futures = [pool.submit(run_transfer, ns, l, port, next(seeds), size, rate, connect, events[l])
                   for l, (port, connect) in targets.items()]
        for e in events.values():
            e.wait(5)
        if fault:
            fault()
        return [f.result() for f in futures]


def run_many(jobs):
    """[Transfer] of the (fn, args...) jobs, run at once."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        return [f.result() for f in [pool.submit(*job) for job in jobs]]


def lines_of(ug, start=0):
    """The access-log lines of `ug` from line `start` on, as {key: value}."""
    return [dict(kv.split("=", 1) for kv in line.split()[1:]) for line in ug.access_lines()[start:]]


def error_metrics(ug):
    """{(listener, reason): count} of ugate_listener_errors_total, nonzero ones."""
    out = {}
    for key, value in ug.metrics().items():
        if key.startswith("ugate_listener_errors_total{") and value:
            labels = dict(kv.split("=", 1) for kv in key[key.index("{") + 1:-1].split(","))
            out[(labels["listener"].strip('"'), labels["reason"].strip('"'))] = int(value)
    return out


def open_mesh_connections(ug):
    m = ug.metrics()
    opened = sum(v for k, v in m.items() if k.startswith("ugate_mesh_connections_total"))
    closed = sum(v for k, v in m.items() if k.startswith("ugate_mesh_connections_closed_total"))
    return int(opened - closed)


def fd_kinds(pid):
    """A process's descriptors: {"pipe": N, "other": M}."""
    kinds = collections.Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            kinds["pipe" if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:") else "other"] += 1
        except OSError:
            pass
    return kinds


def describe_fds(pid):
    """What a process's descriptors are, counted by kind (for a failure's message)."""
    kinds = collections.Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            kinds[os.readlink(f"/proc/{pid}/fd/{fd}").split(":")[0]] += 1
        except OSError:
            pass
    sockets = collections.Counter()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            for line in f.readlines()[1:]:
                sockets[line.split()[3]] += 1
    return f"descriptors {dict(kinds)}; TCP sockets of its namespace by state (hex) {dict(sockets)}"


def streams(ug):
    return json.loads(ug.get("/debug/streams")[1])


class FaultTest(unittest.TestCase):
    """What the fault classes share: nodes in namespaces, the checks of transfers, the leak check."""

    def setUp(self):
        self.mesh = Mesh()
        self.addCleanup(self.mesh.close)
        # Transfers that failed without a counted reason, or were delivered short while logged done:
        # collected over every cycle, then reported at once (no_findings), so one run shows them all.
        self.findings = []

    def node(self, ns, name, listeners, nodes=None, extra=""):
        yaml = (f"identity: {{ name: {name}, dns: [localhost], ca: {{ dir: '{self.mesh.ca}' }} }}\n"
                f"defaults: {{ connect_timeout: 3s, idle_timeout: {IDLE} }}\n"
                "mesh: { keepalive_interval: 2s, keepalive_timeout: 2s }\n"
                f"{extra}\n")
        if nodes:
            yaml += "nodes:\n" + "".join(f"  {n}: {{ {spec} }}\n" for n, spec in nodes.items())
        ug = NetnsUgate(ns, listeners, extra_yaml=yaml)
        ug.start()
        self.addCleanup(ug.__exit__)
        return ug

    def two_nodes(self, tag, lossy=False):
        """Namespaces A and B joined by a veth pair a0/b0 (or, lossy, by lossy_link.py's TUN
        devices), 10.87.0.1 and 10.87.0.2; an Upstream in B; node B's mesh port on 10.87.0.2:15008;
        node A with listeners `hbone` (to b:UPSTREAM through B) and `plain` (a tcp forward to
        10.87.0.2:UPSTREAM). `upstream_port` fixed instead: a server the test starts in B later."""
        self.a, self.b = Netns(tag + "a"), Netns(tag + "b")
        self.addCleanup(lambda: [ns.delete() for ns in (self.a, self.b)])
        if lossy:
            self.lossy_link(self.a, "a0", self.b, "b0")
            for ns, dev, mine, peer in ((self.a, "a0", "10.87.0.1", "10.87.0.2"),
                                        (self.b, "b0", "10.87.0.2", "10.87.0.1")):
                sh("ip", "-n", ns.name, "addr", "add", mine, "peer", peer, "dev", dev)
                sh("ip", "-n", ns.name, "link", "set", dev, "up")
        else:
            link(self.a, "a0", self.b, "b0")
            add_addr(self.a, "a0", "10.87.0.1/24")
            add_addr(self.b, "b0", "10.87.0.2/24")

    def start_nodes(self, upstream_port):
        self.node_b = self.node(self.b, "b", "[ { name: mesh, address: '10.87.0.2:15008', protocol: mesh } ]")
        listeners = (f"[ {{ name: hbone, address: '127.0.0.1:0', protocol: tcp, forward: 'b:{upstream_port}' }},"
                     f"  {{ name: plain, address: '127.0.0.1:0', protocol: tcp, forward: '10.87.0.2:{upstream_port}' }} ]")
        self.node_a = self.node(self.a, "a", listeners, {"b": f"address: '10.87.0.2:15008', id: '{spiffe('b')}'"})

    def no_findings(self, cycles):
        self.assertEqual(self.findings, [], f"{len(self.findings)} in {cycles} cycles")

    def nothing_left(self, base_a, base_b):
        """A and B counted every error they logged, are back to their bases, and exit cleanly (under
        ASan, LeakSanitizer runs at that exit)."""
        self.no_findings(CYCLES)
        for ug, base, what in ((self.node_a, base_a, "A"), (self.node_b, base_b, "B")):
            self.assert_counted(ug)
            self.settled(ug, base, what)
        self.assertEqual(self.node_a.stop(), 0)
        self.assertEqual(self.node_b.stop(), 0)

    def targets(self):
        """Node A's two listeners, for during_transfers."""
        return {l: (self.node_a.port(l), None) for l in ("hbone", "plain")}

    def lossy_link(self, a, a_dev, b, b_dev, delay_ms=25, loss=0.01, reorder=0.1):
        proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "lossy_link.py"), a.name, a_dev, b.name, b_dev,
                                 "--delay-ms", str(delay_ms), "--loss", str(loss), "--reorder", str(reorder)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def stop():
            proc.stdin.close()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()

        self.addCleanup(stop)
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        line = proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            proc.kill()
            raise AssertionError(f"lossy_link.py did not start: {line!r} {proc.stderr.read()!r}")

    # ---- checks ----

    def checked(self, ug, run, upstream=None, relay=None):
        """(the failures' results, the transfers) of run(), checked by check_transfers against the lines
        that ug (and relay) log from now on. Checked batch by batch, since a client port comes back."""
        start = len(ug.access_lines())
        relay_start = len(relay.access_lines()) if relay else 0
        transfers = run()
        return self.check_transfers(ug, transfers, upstream, start, (relay, relay_start) if relay else None), transfers

    def check_transfers(self, ug, transfers, upstream=None, start_line=0, relay=None):
        """No hang; each transfer byte-exact both ways (the upstream's record, when it is ours) and
        logged `done`, or failed and logged with another result by `ug`, the node its client
        talked to. Returns the failures' results.

        relay = (node B, its first line): where B served the HBONE transfers of the batch (one a
        batch). A failed one may be logged done by the client's node: when B's upstream dies it closes
        cleanly, B ends the HBONE stream, and the client's node, whose bytes B's window already took,
        sees a stream that ended normally; B, which could not deliver them, logs the error."""
        for t in transfers:
            self.assertNotIn("hang", t.error, t)
        pending = {t.src: t for t in transfers if t.src}
        logged = {}

        def all_logged():
            for f in lines_of(ug, start_line):
                if f.get("src") in pending:
                    logged[f["src"]] = f
            return len(logged) == len(pending)

        wait_until(all_logged, timeout=15, what=f"access-log lines of {len(pending)} transfers")
        reasons = collections.Counter()
        for t in transfers:
            if not t.src:
                continue  # the connect to the node's own listener failed: never a fault under test
            line = logged[t.src]
            self.assertEqual(line["listener"], t.listener, t)
            if t.error and line["result"] == "done" and relay and t.listener == "hbone":
                # B's line of this stream: the one with as many bytes down as A's (lines of earlier
                # batches may come late).
                node, first = relay
                far = wait_until(lambda: [f for f in lines_of(node, first) if f["bytes_down"] == line["bytes_down"]],
                                 timeout=15, what=f"B's line of {t}")
                if far[-1]["result"] == "done":
                    self.findings.append(f"{t}: failed, but both nodes logged it done")
                reasons["B:" + far[-1]["result"]] += 1
                continue
            if t.error:
                if line["result"] == "done":
                    self.findings.append(f"{t}: failed, but {t.listener} logged it done")
                reasons[line["result"]] += 1
                continue
            if line["result"] != "done":
                # The client had sent its last byte into its socket and read the end of the download
                # when the fault cut the stream (a drain's deadline): its upload was not all delivered,
                # and only the node can know. It reset the stream and counted why; the client, which
                # had closed, never saw the reset. Not a silent loss: counted, as its reason says.
                self.assertNotEqual(line["result"], "", t)
                reasons["after the client's end: " + line["result"]] += 1
                continue
            if upstream is not None:
                # The client saw its transfer complete and the node logged it done: the upstream must have
                # had every byte the client sent, and the end of them.
                try:
                    got = wait_until(lambda: upstream.received.get(t.seed), timeout=10, what="the upstream's digest")
                    self.assertEqual(got, (t.size, sha(payload(t.seed + 1, t.size))), t)
                except AssertionError:
                    self.findings.append(f"{t}: logged done and complete for the client, but the client's bytes "
                                         f"never all reached the upstream")
        return reasons

    def assert_counted(self, ug, start_line=0):
        """Every error result in ug's access log is counted by reason in /metrics, and nothing else is."""
        logged = collections.Counter((f["listener"], f["result"]) for f in lines_of(ug, start_line)
                                     if f.get("result") not in (None, "done"))
        self.assertEqual(error_metrics(ug), dict(logged))

    def quiet(self, ug):
        """(descriptors that are neither mesh connections nor pipes, resident bytes) once no stream is
        open."""
        wait_until(lambda: streams(ug) == [], timeout=15, what="/debug/streams empty")
        return fd_kinds(ug.proc.pid).get("other", 0) - open_mesh_connections(ug), ug.rss()

    def settled(self, ug, base, what):
        """Back to `base` (quiet() after a warm-up of the same shape): the same descriptors, exactly,
        but for mesh connections (a pool keeps some, and a fault may leave another one open than
        before) and splice pipes (each worker keeps up to PipePool::kKeep = 32 for reuse, at most
        PIPES_KEPT descriptors in all); memory within RSS_SLACK, since the allocator keeps freed pages
        and buffer pools keep what the peak needed, while a leak of one 16 KiB buffer per stream over
        these cycles would exceed it. RSS means nothing under AddressSanitizer (its quarantine holds
        freed memory)."""
        fds, rss = base
        try:
            wait_until(lambda: self.quiet(ug)[0] == fds, timeout=15, what=f"{what}: descriptors back to {fds}")
        except AssertionError as e:
            raise AssertionError(f"{e}: now {self.quiet(ug)[0]}, with {open_mesh_connections(ug)} mesh connections; "
                                 f"{describe_fds(ug.proc.pid)}\n{json.dumps(streams(ug))}") from None
        self.assertLessEqual(fd_kinds(ug.proc.pid).get("pipe", 0), PIPES_KEPT, f"{what}: {describe_fds(ug.proc.pid)}")
        if not SANITIZED:
            now = self.quiet(ug)[1]
            self.assertLess(now - rss, RSS_SLACK, f"{what}: resident memory {rss >> 20} -> {now >> 20} MiB")


@needs_netns
class LossyLink(FaultTest):
    """HBONE and a plain tcp forward over a link with 25 ms delay each way, 1% loss each way and
    10% of packets reordered (sent at once, ahead of those delayed)."""

    def test_transfers_over_a_lossy_reordering_link(self):
        self.two_nodes("ll", lossy=True)
        up = Upstream(self.b)
        self.addCleanup(up.close)
        self.start_nodes(up.port)
        size, batch = 256 * KIB, 20
        seeds = iter(range(0, 1 << 30, 2))

        def jobs(n):
            return [(run_transfer, self.a, l, self.node_a.port(l), next(seeds), size)
                    for l in ("hbone", "plain") for _ in range(n // 2)]

        self.checked(self.node_a, lambda: run_many(jobs(batch)), up)  # warm-up
        base_a, base_b = self.quiet(self.node_a), self.quiet(self.node_b)
        done, reasons = [], collections.Counter()
        for _ in range(2 * CYCLES // batch):
            failed, batch_done = self.checked(self.node_a, lambda: run_many(jobs(batch)), up)
            reasons += failed
            done += batch_done
        self.assertEqual(reasons, {}, "TCP recovers from loss and reordering: no transfer should fail")
        self.assertEqual(len(done), 2 * CYCLES)
        self.nothing_left(base_a, base_b)


@needs_netns
class LinkFlap(FaultTest):
    """The veth between A and B goes down and comes back while an HBONE and a plain transfer run.
    Most outages are short (TCP retransmits and both complete); every 20th lasts 5 s, longer than
    the idle timeout and the mesh keepalive, so its transfers fail, counted."""

    def test_link_down_then_up_during_transfers(self):
        self.two_nodes("lf")
        up = Upstream(self.b)
        self.addCleanup(up.close)
        self.start_nodes(up.port)
        size, rate = 128 * KIB, 512 * KIB  # a quarter of a second each way
        seeds = iter(range(0, 1 << 30, 2))

        def cycle(outage):
            def flap():
                sh("ip", "-n", self.a.name, "link", "set", "a0", "down")
                time.sleep(outage)
                sh("ip", "-n", self.a.name, "link", "set", "a0", "up")
            return during_transfers(self.a, self.targets(), seeds, size, rate, flap if outage else None)

        self.checked(self.node_a, lambda: cycle(0), up)  # warm-up, no fault
        base_a, base_b = self.quiet(self.node_a), self.quiet(self.node_b)
        reasons = collections.Counter()
        for i in range(CYCLES):
            reasons += self.checked(self.node_a, lambda: cycle(5 if i % 20 == 19 else 0.15), up)[0]
        failed = sum(reasons.values())
        self.assertLessEqual(failed, 2 * CYCLES // 20 + 10, f"too many failures for short outages: {reasons}")
        self.nothing_left(base_a, base_b)


@needs_netns
class UpstreamKilled(FaultTest):
    """The server behind B, a process of its own, is killed (SIGKILL) while an HBONE and a plain
    transfer through A stream from it, then started again for the next cycle."""

    PORT = 9000  # in B's own namespace: nothing else listens there

    def test_upstream_killed_mid_transfer(self):
        self.two_nodes("uk")
        self.start_nodes(self.PORT)
        size, rate = 1024 * KIB, 4096 * KIB
        seeds = iter(range(0, 1 << 30, 2))
        rng = random.Random(7)

        def cycle(kill):
            server = self.b.popen(["/usr/bin/python3", "-I", "-S", "-c", UPSTREAM_PROCESS, self.PORT],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            listening_port(server, "upstream")

            def kill_it():
                time.sleep(rng.uniform(0, 0.1) if kill else 0.5)
                server.kill()
                server.wait()
                self.b.procs.remove(server)
            return during_transfers(self.a, self.targets(), seeds, size, rate, kill_it)

        warm = cycle(kill=False)  # the server finished sending before it went away: complete
        self.assertEqual([t.error for t in warm], ["", ""])
        self.check_transfers(self.node_a, warm)
        base_a, base_b = self.quiet(self.node_a), self.quiet(self.node_b)
        reasons = collections.Counter()
        for _ in range(CYCLES):
            reasons += self.checked(self.node_a, lambda: cycle(kill=True), relay=self.node_b)[0]
        print(f"\nupstream killed: failures by result {dict(reasons)}")
        self.assertGreater(sum(reasons.values()), CYCLES, f"killed mid-transfer, most should fail: {reasons}")
        self.nothing_left(base_a, base_b)


@needs_netns
class GatewayRestart(FaultTest):
    """Node B sits behind a NAT (MASQUERADE; nothing gets in) and registers with gateway G (reverse
    accept); a client beside G streams to a server beside B through G's tcp listener and its HTTP
    proxy (a CONNECT to B by name, bridged between G's workers). Mid-transfer G is restarted:
    SIGKILL on odd cycles, SIGTERM with a short drain on even ones. B must let go of every stream
    the dead connection carried and register with the new G within its backoff."""

    BACKOFF_MAX = 0.5

    def test_gateway_restarted_while_a_node_behind_nat_has_streams(self):
        tag = "gr"
        g, nat, b = (Netns(tag + x) for x in "gnb")
        self.addCleanup(lambda: [ns.delete() for ns in (g, nat, b)])
        link(g, "g0", nat, "n0")   # public: 10.88.1.0/24
        link(nat, "n1", b, "b0")   # private: 192.168.88.0/24
        add_addr(g, "g0", "10.88.1.1/24")
        add_addr(nat, "n0", "10.88.1.2/24")
        add_addr(nat, "n1", "192.168.88.1/24")
        add_addr(b, "b0", "192.168.88.2/24")
        b.run("ip", "route", "add", "default", "via", "192.168.88.1")
        nat.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        nat.run("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "n0", "-j", "MASQUERADE")
        nat.run("iptables", "-A", "FORWARD", "-i", "n0", "-o", "n1", "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP")
        up = Upstream(b, "127.0.0.1")
        self.addCleanup(up.close)
        gw = self.node(g, "gw", "[ { name: mesh, address: '10.88.1.1:15008', protocol: mesh }, "
                                f"  {{ name: to-b, address: '127.0.0.1:0', protocol: tcp, forward: 'b:{up.port}' }}, "
                                "  { name: proxy, address: '127.0.0.1:0', protocol: http-proxy } ]",
                       {"b": f"id: '{spiffe('b')}'"}, extra="drain_timeout: 200ms")
        node_b = self.node(b, "b", "[]", {"gw": f"address: '10.88.1.1:15008', id: '{spiffe('gw')}'"},
                           extra=f"remote_accept: {{ gateways: [gw], backoff_min: 100ms, "
                                 f"backoff_max: {int(self.BACKOFF_MAX * 1000)}ms }}")
        size, rate = 128 * KIB, 512 * KIB
        seeds = iter(range(0, 1 << 30, 2))

        def transfers(restart):
            targets = {"to-b": (gw.port("to-b"), None), "proxy": (gw.port("proxy"), f"b.cluster.local:{up.port}")}
            return during_transfers(g, targets, seeds, size, rate, restart)

        def restart_with(sig):
            def restart():
                gw.stop(sig)
                gw.stderr.close()
                gw.start()
            return restart

        wait_until(lambda: len(registered(gw)) == 1, what="B registered")
        self.check_transfers(gw, transfers(None), up)  # warm-up
        base_b = self.quiet(node_b)
        first_line = 0  # of the running G's access-log lines
        b_line = len(node_b.access_lines())
        slowest = 0.0
        kinds = collections.Counter()
        for i in range(CYCLES):
            sig = signal.SIGKILL if i % 2 else signal.SIGTERM
            done = transfers(restart_with(sig))
            ready = time.monotonic()
            wait_until(lambda: len(registered(gw)) == 1, timeout=10, what="B registered with the new G")
            slowest = max(slowest, time.monotonic() - ready)
            failed = [t for t in done if t.error]
            kinds.update(f"{sig.name}:{'failed' if t.error else 'done'}" for t in done)
            if sig == signal.SIGTERM:
                # G logged each stream before it exited, failed ones with their reason (drained).
                self.check_transfers(gw, done, up, first_line)
            else:
                # G died without a word; B, which served the streams, logged each failure: a failed
                # transfer is a stream B ended with an error, whatever the client saw first.
                for t in done:
                    self.assertNotIn("hang", t.error, t)
                b_failed = wait_until(lambda: [f for f in lines_of(node_b, b_line) if f["result"] != "done"]
                                      or not failed, timeout=10, what="B's log of the failed streams")
                if failed:
                    self.assertGreaterEqual(len(b_failed), len(failed), (done, b_failed))
            # The old G's lines are behind; the new one starts here.
            first_line = len(gw.access_lines())
            wait_until(lambda: streams(node_b) == [], timeout=10, what="B's streams of the dead connection gone")
            b_line = len(node_b.access_lines())
        print(f"\ngateway restarts: {dict(kinds)}; registration back at most {slowest:.2f}s after G was ready")
        self.assertLess(slowest, self.BACKOFF_MAX + 1.0, "B registers again within its backoff (+ a handshake)")
        self.check_transfers(gw, transfers(None), up, first_line)  # the last G works as the first did
        self.no_findings(CYCLES)
        self.assert_counted(node_b)
        self.assert_counted(gw, first_line)
        self.settled(node_b, base_b, "B")
        self.assertEqual(streams(gw), [])
        self.assertEqual(gw.stop(), 0)
        self.assertEqual(node_b.stop(), 0)


if __name__ == "__main__":
    unittest.main()

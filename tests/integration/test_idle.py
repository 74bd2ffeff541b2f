"""An idle gateway does not wake up: with no stream open, no thread of the
process is scheduled (/proc/PID/task/*/schedstat's count of times on a CPU
does not move). An open stream starts the workers' tick, and its end stops it.
bench/idle_wakeups.sh measures the same over a longer window."""
import glob
import os
import socket
import time
import unittest

from harness import Server, Ugate, echo, tcp_listener_yaml, wait_until
from test_mesh import Mesh, mesh_address, mesh_listener, spiffe


def wakeups(pid):
    """Times each thread of `pid` was put on a CPU, summed (threads that end are left out)."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[2])
        except (OSError, IndexError, ValueError):
            pass  # the thread ended meanwhile
    return total


def wakeups_over(pid, seconds):
    before = wakeups(pid)
    time.sleep(seconds)
    return wakeups(pid) - before


@unittest.skipUnless(os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/schedstat"), "no schedstat")
class IdleWakeups(unittest.TestCase):
    def setUp(self):
        self.origin = Server(echo)
        self.addCleanup(self.origin.close)
        lo = "address: '127.0.0.1:0'"
        listeners = ", ".join([
            tcp_listener_yaml("fwd", 0, f"127.0.0.1:{self.origin.port}"),
            f"{{ name: socks5, {lo}, protocol: socks5 }}",
            f"{{ name: http-proxy, {lo}, protocol: http-proxy }}",
            f"{{ name: dns, {lo}, protocol: dns }}",
            f"{{ name: mesh, {lo}, protocol: mesh }}",
            f"{{ name: quic, {lo}, protocol: quic }}",
        ])
        self.ug = Ugate(f"[ {listeners} ]")
        self.ug.start()
        self.addCleanup(self.ug.__exit__, None, None, None)
        time.sleep(0.5)  # the readiness requests' admin connections end

    def test_no_wakeups_while_nothing_is_open(self):
        n = wakeups_over(self.ug.proc.pid, 3)
        self.assertEqual(n, 0, f"{n} wakeups in 3 s with nothing open")

    def test_a_stream_wakes_the_tick_and_its_end_stops_it(self):
        with socket.create_connection(("127.0.0.1", self.ug.port("fwd")), timeout=5) as c:
            c.sendall(b"ping")
            self.assertEqual(c.recv(4), b"ping")
            # The worker's 100 ms tick runs while the stream is open: about 10 a second.
            n = wakeups_over(self.ug.proc.pid, 1)
            self.assertGreaterEqual(n, 5, f"{n} wakeups in 1 s with a stream open")
        wait_until(lambda: self.ug.metric("ugate_listener_active_streams", listener="fwd") == 0, what="the stream's end")
        time.sleep(0.5)  # the tick's last round sees the list empty
        n = wakeups_over(self.ug.proc.pid, 2)
        self.assertEqual(n, 0, f"{n} wakeups in 2 s after the stream ended")


@unittest.skipUnless(os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/schedstat"), "no schedstat")
class IdleReverseConnection(unittest.TestCase):
    """A node's reverse connection to its gateway, with no stream on it: each side wakes for the
    keepalive (a PING, its answer, the tick that sees it), not once a second."""

    def test_wakes_per_keepalive_interval_not_per_second(self):
        mesh = Mesh()
        self.addCleanup(mesh.close)
        keepalive = "mesh: { keepalive_interval: 20s }"
        g = mesh.node("gw", f"[ {mesh_listener()} ]", {"b": f"id: '{spiffe('b')}'"}, extra=keepalive, workers=1)
        g.start()
        self.addCleanup(g.__exit__, None, None, None)
        b = mesh.node("b", "[]", {"gw": f"address: '{mesh_address(g)}', id: '{spiffe('gw')}'"},
                      extra=keepalive + "\nremote_accept: { gateways: [gw] }", workers=1)
        b.start()
        self.addCleanup(b.__exit__, None, None, None)
        wait_until(lambda: g.metric("ugate_mesh_connections_active") >= 1, what="B registered")
        time.sleep(1)
        # 10 s, half an interval: each side's PING (and the peer's) falls in it at most once, a
        # few wake-ups; ticking every second would be 10 on its own.
        before = (wakeups(g.proc.pid), wakeups(b.proc.pid))
        time.sleep(10)
        woke = (wakeups(g.proc.pid) - before[0], wakeups(b.proc.pid) - before[1])
        for who, n in zip(("gateway", "node"), woke):
            self.assertLessEqual(n, 6, f"{who}: {n} wakeups in 10 s with one idle reverse connection")
        self.assertEqual(g.metric("ugate_mesh_connections_active"), 1, "the connection stayed up")


if __name__ == "__main__":
    unittest.main()

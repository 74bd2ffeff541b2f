"""Network namespaces for integration tests: created with names unique to this
process, deleted by the test (and at exit, whatever happened).

Sockets are opened inside a namespace from this process itself: a short-lived
thread enters the namespace (setns(2) changes only the calling thread) and
creates the socket, which stays in that namespace for its whole life.
"""
import atexit
import ctypes
import functools
import os
import shutil
import subprocess
import threading
import unittest

from harness import Ugate

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000
_live = set()

# Set to 1 where namespace tests must run (CI, which runs as root: .ci/run): a class that would be
# skipped because namespaces cannot be used fails instead, with the reason.
REQUIRE_ENV = "UGATE_REQUIRE_NETNS"


def unavailable():
    """Why namespaces cannot be used here, or None. With UGATE_REQUIRE_NETNS=1 a reason is an error
    (AssertionError), whatever a test does with it; needs_netns is the way to skip a class."""
    why = _probe()
    if why and os.environ.get(REQUIRE_ENV) == "1":
        raise AssertionError(f"{REQUIRE_ENV}=1 and network namespaces cannot be used here: {why}")
    return why


@functools.cache
def _probe():
    """Why namespaces cannot be used here, or None (probed once per process)."""
    if os.geteuid() != 0:
        return "network namespace tests need root (ip netns add)"
    if not shutil.which("ip") or not shutil.which("iptables"):
        return "network namespace tests need iproute2 and iptables"
    probe = f"ugprobe{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return "ip netns add failed: " + r.stderr.strip()
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def needs_netns(cls):
    """Class decorator for a test class that builds namespaces. Where they cannot be used here, the
    class is skipped (ctest shows Skipped: run_class.py), or, with UGATE_REQUIRE_NETNS=1, its
    setUpClass fails with the reason, so that none of its tests passes unrun."""
    why = _probe()
    if why is None:
        return cls
    if os.environ.get(REQUIRE_ENV) != "1":
        return unittest.skip(why)(cls)

    def refuse(klass):
        raise AssertionError(f"{REQUIRE_ENV}=1 and this class needs network namespaces: {why}")

    cls.setUpClass = classmethod(refuse)
    return cls


def call_in(name, fn):
    """fn() run on a thread inside namespace `name` (sockets and devices it opens stay there)."""
    out = {}

    def enter_and_run():
        fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            if _libc.setns(fd, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns " + name)
            out["value"] = fn()
        except BaseException as e:  # re-raised on the caller's thread
            out["error"] = e
        finally:
            os.close(fd)

    t = threading.Thread(target=enter_and_run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def sh(*argv, check=True, input=None):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=30, input=input)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed ({r.returncode}): {r.stderr.strip()}")
    return r


class Netns:
    def __init__(self, tag):
        self.name = f"ug{os.getpid()}{tag}"
        sh("ip", "netns", "add", self.name)
        _live.add(self.name)
        self.procs = []
        self.run("ip", "link", "set", "lo", "up")

    def run(self, *argv, check=True, input=None):
        return sh("ip", "netns", "exec", self.name, *argv, check=check, input=input)

    def popen(self, argv, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.name] + [str(a) for a in argv], **kw)
        self.procs.append(p)
        return p

    def call(self, fn):
        """fn() run on a thread inside this namespace (sockets it opens stay here)."""
        return call_in(self.name, fn)

    def delete(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.name in _live:
            sh("ip", "netns", "del", self.name, check=False)
            _live.discard(self.name)


def link(a, a_if, b, b_if):
    """A veth pair with one end in each namespace, both up."""
    sh("ip", "link", "add", a_if, "netns", a.name, "type", "veth", "peer", "name", b_if, "netns", b.name)
    a.run("ip", "link", "set", a_if, "up")
    b.run("ip", "link", "set", b_if, "up")


def add_addr(ns, dev, cidr):
    # IPv6 addresses skip duplicate address detection: usable at once.
    ns.run("ip", "addr", "add", cidr, "dev", dev, *(["nodad"] if ":" in cidr else []))


def tproxy_gateway(test, tag, net, protos, port, v6=False):
    """Three namespaces in a row, client - gateway - server. IPv4: NET.1.0/24
    and NET.2.0/24 (client NET.1.2, gateway NET.1.1 and NET.2.1, server
    NET.2.2); IPv6 (v6=True): NET:1::/64 and NET:2::/64, same host parts. In the
    gateway, traffic of the `protos` arriving from the client is handed by
    TPROXY to `port`. Returns (client, gateway, server), deleted at cleanup."""
    c, g, s = Netns(tag + "c"), Netns(tag + "g"), Netns(tag + "s")
    test.addCleanup(lambda: [ns.delete() for ns in (c, g, s)])
    link(c, "c0", g, "g0")
    link(g, "g1", s, "s0")
    addr = (lambda n, h: f"{net}:{n}::{h}") if v6 else (lambda n, h: f"{net}.{n}.{h}")
    plen, fam = ("/64", "-6") if v6 else ("/24", "-4")
    add_addr(c, "c0", addr(1, 2) + plen)
    add_addr(g, "g0", addr(1, 1) + plen)
    add_addr(g, "g1", addr(2, 1) + plen)
    add_addr(s, "s0", addr(2, 2) + plen)
    c.run("ip", fam, "route", "add", "default", "via", addr(1, 1))
    s.run("ip", fam, "route", "add", "default", "via", addr(2, 1))
    g.run("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1" if v6 else "net.ipv4.ip_forward=1")
    for proto in protos:
        g.run("ip6tables" if v6 else "iptables", "-t", "mangle", "-A", "PREROUTING", "-i", "g0", "-p", proto,
              "-j", "TPROXY", "--on-port", port, "--tproxy-mark", "0x1/0x1")
    g.run("ip", fam, "rule", "add", "fwmark", "0x1/0x1", "lookup", "100")
    g.run("ip", fam, "route", "add", "local", "::/0" if v6 else "0.0.0.0/0", "dev", "lo", "table", "100")
    return c, g, s


@atexit.register
def _delete_leftovers():
    for name in list(_live):
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


class NetnsUgate(Ugate):
    """ugate running inside a namespace, optionally under another group id (so
    iptables' owner match can tell its own connections from the ones to capture)."""

    def __init__(self, ns, listeners_yaml, gid=None, **kw):
        super().__init__(listeners_yaml, **kw)
        self.ns = ns
        self.gid = gid

    def command(self):
        prefix = ["ip", "netns", "exec", self.ns.name]
        if self.gid is not None:
            prefix += ["setpriv", f"--regid={self.gid}", "--clear-groups", "--"]
        return prefix + super().command()

    def get(self, path):
        r = self.ns.run("curl", "-s", "-m", "5", "-w", "\n%{http_code}", f"http://127.0.0.1:{self.admin_port}{path}",
                        check=False)
        if r.returncode != 0:
            raise OSError(f"admin request failed: curl exit {r.returncode}")
        body, _, code = r.stdout.rpartition("\n")
        return int(code), body

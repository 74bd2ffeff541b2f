#!/usr/bin/python3
"""TURN benchmark: ugate's TURN server beside coturn's turnserver, in one run.

Sections (pick with --only):
  relay   turnutils_uclient (-m sessions, -n messages of -l bytes each, -z 0: as fast as it sends)
          through the server to turnutils_peer (which echoes) and back: relayed messages/s and
          Mbit/s (received echoes over the run's wall time, each echo relayed twice), the share
          lost, and the server's CPU seconds per million relayed messages (both directions)
  alloc   allocations/s and the server's CPU per allocation: a raw client (here, in Python) makes
          --allocations one after the other, each from its own socket (Allocate, 401, signed Allocate)
  memory  RSS per allocation: the server's RSS before and after --held more allocations made so
          (each round adds to those held since the first), divided by their number

Both servers get the same load clients, peer, credentials (long-term, realm ugate.bench) and
loopback; coturn runs with its defaults (a UDP thread per core), ugate with --workers workers.
Targets (issue 17): relay rate >= 1.2x coturn at <= coturn's CPU per message; memory per
allocation <= coturn's. The same conventions as bench/bench.py (bench/harness.py): contenders take
turns round by round, comparisons are medians of per-round ratios, every process is stopped by its
PID, and as root the run is in a private network namespace. Run with /usr/bin/python3; see
bench/RESULTS.md.
"""

import argparse
import hashlib
import hmac
import os
import re
import socket
import struct
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402  (the shared harness)

SECTIONS = ("relay", "alloc", "memory")
REALM, USER, PASSWORD = "ugate.bench", "alice", "wonderland"


def start_ugate(env: h.Env, procs: h.Processes, workers: int):
    listener = ("protocol: stun\n    turn: { realm: " + REALM + ", users: [ { name: " + USER + ", password: " +
                PASSWORD + " } ], allow_peers: [ 127.0.0.1 ], max_allocations_per_user: 100000, "
                "max_allocations: 100000 }")
    port, _, proc = h.start_ugate(env, procs, f"ugate w{workers}", workers, listener)
    return port, proc


def start_coturn(env: h.Env, procs: h.Processes):
    port = h.free_port()
    work = env.workdir / f"coturn-{port}"
    work.mkdir()
    proc = procs.start(f"coturn-{port}", [
        shutil.which("turnserver"), "-n", "-L", "127.0.0.1", "-p", str(port), "-E", "127.0.0.1", "-a",
        "-r", REALM, "-u", f"{USER}:{PASSWORD}", "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls",
        "--no-rfc5780", "--pidfile", str(work / "pid"), "--db", str(work / "turndb"), "--log-file", "stdout",
        "--simple-log", "--no-stdout-log"])
    h.wait_listening(procs, f"coturn-{port}", proc, port)
    return port, proc


def contenders(env: h.Env):
    out = [(f"ugate w{w}", lambda procs, w=w: start_ugate(env, procs, w)) for w in env.args.workers]
    out.append(("coturn", lambda procs: start_coturn(env, procs)))
    return out


def uclient(port: int, peer: int, sessions: int, messages: int, length: int, timeout: float) -> tuple[str, float]:
    argv = ["turnutils_uclient", "-p", str(port), "-u", USER, "-w", PASSWORD, "-e", "127.0.0.1", "-r", str(peer),
            "-m", str(sessions), "-n", str(messages), "-l", str(length), "-z", "0", "-c", "127.0.0.1"]
    started = time.monotonic()
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"uclient took more than {timeout:.0f} s")
    return r.stdout + r.stderr, time.monotonic() - started


COOKIE, ALLOCATE, ALLOCATE_OK = 0x2112A442, 0x0003, 0x0103
REFRESH = 0x0004
A_USERNAME, A_INTEGRITY, A_LIFETIME, A_REALM, A_NONCE, A_TRANSPORT = 0x0006, 0x0008, 0x000D, 0x0014, 0x0015, 0x0019


def attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def message(kind: int, attrs: list, key: bytes | None = None) -> bytes:
    tid = os.urandom(12)
    body = b"".join(attribute(k, v) for k, v in attrs)
    if key:  # MESSAGE-INTEGRITY over the header whose length already counts it
        head = struct.pack("!HHI", kind, len(body) + 24, COOKIE) + tid
        body += attribute(A_INTEGRITY, hmac.new(key, head + body, hashlib.sha1).digest())
    return struct.pack("!HHI", kind, len(body), COOKIE) + tid + body


def attributes(data: bytes) -> dict:
    out, at = {}, 20
    while at + 4 <= len(data):
        kind, n = struct.unpack("!HH", data[at:at + 4])
        out.setdefault(kind, data[at + 4:at + 4 + n])
        at += 4 + n + (-n % 4)
    return out


class Held:
    """Allocations made by hold_allocations(); release() ends them (Refresh 0) and closes the sockets,
    so that a later round's new sockets never land on a 5-tuple that still has one (437)."""

    def __init__(self, port: int):
        self.port, self.socks, self.realm, self.nonce, self.key = port, [], b"", b"", b""

    def release(self):
        for s in self.socks:
            try:
                s.sendto(message(REFRESH, [(A_LIFETIME, b"\0\0\0\0"), (A_USERNAME, USER.encode()),
                                           (A_REALM, self.realm), (A_NONCE, self.nonce)], self.key),
                         ("127.0.0.1", self.port))
                s.recv(2048)
            except OSError:
                pass
            s.close()
        self.socks = []


USED_PORTS: set[int] = set()  # coturn answers 437 for a while on the 5-tuple of an ended allocation


def fresh_socket() -> socket.socket:
    """A UDP socket on a port no allocation of this run has used."""
    tried = []
    try:
        while True:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            if s.getsockname()[1] not in USED_PORTS:
                USED_PORTS.add(s.getsockname()[1])
                return s
            tried.append(s)
    finally:
        for t in tried:
            t.close()


def hold_allocations(port: int, count: int) -> tuple[Held, float]:
    """`count` allocations over UDP, each from its own socket: the unsigned Allocate, its 401 (REALM,
    NONCE), the signed one. Returns them (held until release()) and the seconds it took. The same raw
    client for every server: what it costs is the same for all."""
    held = Held(port)
    socks = held.socks
    started = time.monotonic()
    key = None
    try:
        for _ in range(count):
            s = fresh_socket()
            socks.append(s)
            s.settimeout(5)
            s.sendto(message(ALLOCATE, [(A_TRANSPORT, b"\x11\0\0\0")]), ("127.0.0.1", port))
            challenge = attributes(s.recv(2048))
            realm, nonce = challenge.get(A_REALM), challenge.get(A_NONCE)
            if realm is None or nonce is None:
                code = challenge.get(0x0009, b"\0\0\0\0")
                raise RuntimeError(f"no 401 with REALM and NONCE (answered {code[2] * 100 + code[3]} {code[4:]!r})")
            key = key or hashlib.md5(f"{USER}:{realm.decode()}:{PASSWORD}".encode()).digest()
            held.realm, held.nonce, held.key = realm, nonce, key
            s.sendto(message(ALLOCATE, [(A_TRANSPORT, b"\x11\0\0\0"), (A_USERNAME, USER.encode()),
                                        (A_REALM, realm), (A_NONCE, nonce)], key), ("127.0.0.1", port))
            answer = s.recv(2048)
            if struct.unpack("!H", answer[:2])[0] != ALLOCATE_OK:
                raise RuntimeError(f"Allocate refused: {answer[:2].hex()}")
    except (OSError, RuntimeError) as e:
        held.release()
        raise RuntimeError(f"allocation {len(socks)}: {e}")
    return held, time.monotonic() - started


def received(out: str) -> int:
    m = re.findall(r"tot_recv_msgs=(\d+)", out)
    if not m:
        raise RuntimeError("uclient printed no totals: " + out[-300:].replace("\n", " | "))
    return int(m[-1])


def run_section(env: h.Env, title: str, method: str, measure, columns, row, checks) -> h.Report:
    report = h.Report(title, method, columns)
    results = {}
    with h.Processes(env.workdir) as procs:
        peer_port = h.free_port()
        procs.start("peer", ["turnutils_peer", "-p", str(peer_port), "-L", "127.0.0.1"])
        time.sleep(0.3)
        for label, start in contenders(env):
            # A fresh server per contender and section: memory starts from the same state.
            try:
                port, proc = start(procs)
            except h.StartError as e:
                print(f"  - skipping {label}: {e}")
                continue
            results[label] = (port, proc)
        values = h.run_rounds(env, {label: label for label in results},
                              lambda label: measure(*results[label], peer_port), describe=lambda v: str(v))
    for label, vs in values.items():
        report.rows.append(row(label, vs))
    checks(report, values)
    report.raw = values
    return report


def pick(values: list, key: str) -> list:
    return [v[key] if v else None for v in values]


def section_relay(env: h.Env) -> h.Report:
    a = env.args

    def measure(port, proc, peer):
        cpu0 = h.cpu_seconds(proc.pid)
        out, wall = uclient(port, peer, a.sessions, a.messages, a.length, timeout=300)
        cpu = h.cpu_seconds(proc.pid) - cpu0
        got = received(out)
        sent = a.sessions * a.messages
        relayed = 2 * got  # each echo crossed the relay twice
        return {"msgs_per_s": round(relayed / wall), "mbit_per_s": round(relayed * a.length * 8 / wall / 1e6, 1),
                "cpu_s_per_million": round(cpu / max(relayed, 1) * 1e6, 2), "lost": round(1 - got / sent, 4)}

    def row(label, vs):
        return [label, h.fmt(h.median_of(pick(vs, "msgs_per_s")), 0), h.fmt(h.median_of(pick(vs, "mbit_per_s")), 1),
                h.fmt(h.median_of(pick(vs, "cpu_s_per_million")), 2), h.fmt(h.median_of(pick(vs, "lost")), 3)]

    def checks(report, values):
        for label in values:
            if label.startswith("ugate") and "coturn" in values:
                report.check(f"{label} / coturn relayed msgs/s",
                             h.ratio(pick(values[label], "msgs_per_s"), pick(values["coturn"], "msgs_per_s")),
                             ">= 1.2", lambda v: v >= 1.2)
                report.check(f"{label} / coturn CPU per message",
                             h.ratio(pick(values[label], "cpu_s_per_million"),
                                     pick(values["coturn"], "cpu_s_per_million")), "<= 1.0", lambda v: v <= 1.0)

    method = (f"turnutils_uclient -m {a.sessions} -n {a.messages} -l {a.length} -z 0 -c (channels), "
              f"turnutils_peer echoing; relayed = 2 x echoes received, over uclient's wall time; "
              f"CPU = the server's user+system seconds during the run.")
    return run_section(env, "TURN relay over UDP", method, measure,
                       ["contender", "relayed msgs/s", "Mbit/s", "CPU s / 1M msgs", "lost"], row, checks)


def section_alloc(env: h.Env) -> h.Report:
    a = env.args

    def measure(port, proc, peer):
        cpu0 = h.cpu_seconds(proc.pid)
        held, seconds = hold_allocations(port, a.allocations)
        cpu = h.cpu_seconds(proc.pid) - cpu0
        held.release()
        return {"allocs_per_s": round(a.allocations / seconds), "cpu_ms_per_alloc": round(cpu * 1000 / a.allocations, 3)}

    def row(label, vs):
        return [label, h.fmt(h.median_of(pick(vs, "allocs_per_s")), 0), h.fmt(h.median_of(pick(vs, "cpu_ms_per_alloc")), 3)]

    def checks(report, values):
        for label in values:
            if label.startswith("ugate") and "coturn" in values:
                report.reported(f"{label} / coturn allocations/s",
                                h.ratio(pick(values[label], "allocs_per_s"), pick(values["coturn"], "allocs_per_s")))

    method = (f"{a.allocations} allocations one after the other, each from its own UDP socket (Allocate, 401, "
              f"the signed Allocate), by a raw Python client (bench/turn_bench.py): allocations per second of "
              f"wall time, and the server's CPU per allocation.")
    return run_section(env, "TURN allocations", method, measure, ["contender", "allocations/s", "CPU ms / allocation"],
                       row, checks)


def section_memory(env: h.Env) -> h.Report:
    a = env.args

    kept = []  # every round's allocations stay until the section's servers stop

    def measure(port, proc, peer):
        before = h.rss_kib(proc.pid)
        held, _ = hold_allocations(port, a.held)
        kept.append(held)
        time.sleep(0.3)
        return {"kib_per_alloc": round((h.rss_kib(proc.pid) - before) / a.held, 2)}

    def row(label, vs):
        return [label, h.fmt(h.median_of(pick(vs, "kib_per_alloc")), 2)]

    def checks(report, values):
        for label in values:
            if label.startswith("ugate") and "coturn" in values:
                report.check(f"{label} / coturn RSS per allocation",
                             h.ratio(pick(values[label], "kib_per_alloc"), pick(values["coturn"], "kib_per_alloc")),
                             "<= 1.0", lambda v: v <= 1.0)

    method = (f"RSS growth while {a.held} more allocations are held by the raw client of the alloc section, per "
              f"allocation; each round adds {a.held} to those of the rounds before (held until the end).")
    return run_section(env, "TURN memory per allocation", method, measure, ["contender", "KiB per allocation"], row,
                       checks)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections, from " + ",".join(SECTIONS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workers", default="1,2", help="ugate contenders, by worker count")
    p.add_argument("--sessions", type=int, default=10, help="relay: uclient -m")
    p.add_argument("--messages", type=int, default=2000, help="relay: uclient -n")
    p.add_argument("--length", type=int, default=512, help="relay: uclient -l")
    p.add_argument("--allocations", type=int, default=1000, help="alloc: allocations per round")
    p.add_argument("--held", type=int, default=500, help="memory: allocations per round")
    p.add_argument("--ugate", default=str(h.ROOT / "build/ugate"))
    p.add_argument("--markdown", type=Path)
    p.add_argument("--json", type=Path)
    p.add_argument("--host-netns", action="store_true")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    if set(args.only) - set(SECTIONS):
        p.error(f"unknown section(s) {', '.join(sorted(set(args.only) - set(SECTIONS)))}")
    return args


def main(argv) -> int:
    args = parse_args(argv)
    netns = h.begin_run(args, ("turnserver", "turnutils_uclient", "turnutils_peer"))
    if netns is None:
        return 1
    if not os.access(args.ugate, os.X_OK):
        print(f"error: ugate binary not found at {args.ugate} (make build)")
        return 1
    with tempfile.TemporaryDirectory(prefix="ugate-turn-bench-") as tmp:
        env = h.Env(args, Path(tmp), "", args.ugate)
        reports, elapsed = h.run_sections(env, {"relay": section_relay, "alloc": section_alloc,
                                                "memory": section_memory})
    header = (f"ugate TURN bench, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {args.rounds} rounds, "
              f"{elapsed:.0f} s, {netns}; ugate: {h.described(args.ugate)}; coturn: turnserver "
              + subprocess.run(["turnserver", "--version"], capture_output=True, text=True).stdout.strip())
    h.publish(header, reports, args.markdown, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

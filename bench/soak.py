#!/usr/bin/python3
"""ugate soak: 10,000 concurrent streams for 5 minutes across tcp, socks5, http-proxy and HBONE.

Gateway G has four doors to one echo server (`ugate-loadgen echo`): a tcp forward, a SOCKS5 and an
HTTP proxy (CONNECT to the echo server), and its mesh port, which node A's tcp forward to g:ECHO
reaches over HBONE. Four `ugate-loadgen soak` clients, one per door, each hold STREAMS/4 streams
for SECONDS: every stream sends 64 bytes about every 5 s (jittered) and checks the echo, and after
about a minute (30-90 s) closes and opens again, so streams come and go all along while the count
stays at STREAMS. Targets: no error anywhere (each client's count, and G's and A's
ugate_listener_errors_total), and, once the clients are gone and A's pooled connections idled out
(mesh pool_idle_timeout, 10 s here), G's and A's resident memory and open descriptors within 5% of
where they were before the load. Both are read at start (cold, right after /readyz) and after a
warm-up (WARMUP seconds of the same load, then idle again): the warm figures are the targets, since
the allocator keeps what the first peak needed (see bench/RESULTS.md); the cold ones are shown.

Descriptors: G holds two per proxied stream (tcp, socks5, http-proxy) and one per HBONE stream; A one
per stream. With the 20,000 hard limit of this machine, 10,000 streams fit only spread this way:
G about 17,500, the echo server 10,000, each client 2,500.

Run as root for a private network namespace (bench/harness.py); with /usr/bin/python3. `make soak`.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402  (the shared harness)

DOORS = ("tcp", "socks5", "http-proxy", "hbone")


def metrics(admin: int) -> dict[str, float]:
    out = {}
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                out[key] = float(value)
    return out


def total(m: dict[str, float], family: str) -> float:
    return sum(v for k, v in m.items() if k == family or k.startswith(family + "{"))


def open_streams(admin: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/debug/streams", timeout=10) as r:
        return len(json.loads(r.read()))


class Node:
    """A ugate process of the run: its admin port and process, and what it reads."""

    def __init__(self, name: str, admin: int, proc: subprocess.Popen):
        self.name, self.admin, self.proc = name, admin, proc

    def sample(self) -> dict:
        return {"rss_kib": h.rss_kib(self.proc.pid), "fds": h.open_fds(self.proc.pid)}

    def quiet(self, timeout: float) -> dict:
        """sample() once no stream and no mesh connection is open (A's pooled ones idle out after
        pool_idle_timeout), waiting at most `timeout` seconds, then 2 s more for closes to finish."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = metrics(self.admin)
            mesh = total(m, "ugate_mesh_connections_total") - total(m, "ugate_mesh_connections_closed_total")
            if open_streams(self.admin) == 0 and mesh == 0:
                break
            time.sleep(1)
        else:
            print(f"  ! {self.name}: streams or mesh connections still open after {timeout:.0f} s")
        time.sleep(2)
        return self.sample()


def start_nodes(env: h.Env, procs: h.Processes, echo: int) -> tuple[Node, Node, dict[str, int]]:
    """G with a tcp, a socks5, an http-proxy and a mesh listener, and A forwarding to g:ECHO; the
    ports clients use, by door."""
    ca = env.workdir / "ca"
    subprocess.run([env.ugate, "ca", "init", "--dir", str(ca)], check=True, capture_output=True, timeout=30)
    ports = {d: h.free_port() for d in DOORS}
    mesh_port = h.free_port()

    def node(name: str, body: str, nodes: str = "") -> Node:
        admin = h.free_port()
        config = env.workdir / f"{name}.yaml"
        config.write_text(f"workers: {env.args.workers}\nstate_dir: {env.workdir}/state-{name}\n"
                          f"admin: {{ address: 127.0.0.1:{admin} }}\naccess_log: {{ path: 'off' }}\n"
                          f"identity: {{ name: {name}, ca: {{ dir: '{ca}' }} }}\n"
                          "mesh: { pool_idle_timeout: 10s }\n"
                          f"{nodes}\nlisteners:\n{body}")
        proc = procs.start(f"ugate-{name}", [env.ugate, "--config", str(config)])
        if not h.readyz(admin, timeout=15):
            raise SystemExit(f"{name} not ready: {procs.log_tail(f'ugate-{name}')}")
        return Node(name, admin, proc)

    g = node("g", f"  - {{ name: tcp, address: '127.0.0.1:{ports['tcp']}', protocol: tcp, forward: '127.0.0.1:{echo}' }}\n"
                  f"  - {{ name: socks5, address: '127.0.0.1:{ports['socks5']}', protocol: socks5 }}\n"
                  f"  - {{ name: http-proxy, address: '127.0.0.1:{ports['http-proxy']}', protocol: http-proxy }}\n"
                  f"  - {{ name: mesh, address: '127.0.0.1:{mesh_port}', protocol: mesh }}\n")
    a = node("a", f"  - {{ name: to-g, address: '127.0.0.1:{ports['hbone']}', protocol: tcp, forward: 'g:{echo}' }}\n",
             f"nodes:\n  g: {{ address: '127.0.0.1:{mesh_port}', id: spiffe://cluster.local/ns/default/sa/g }}")
    return g, a, ports


def load(env: h.Env, procs: h.Processes, echo: int, ports: dict[str, int], seconds: int, nodes: list[Node],
         label: str) -> tuple[dict[str, dict], list[dict]]:
    """The four soak clients at once for `seconds`; (their results by door, samples of the nodes
    every 10 s)."""
    per_door = env.args.streams // len(DOORS)
    clients = {}
    for door in DOORS:
        via = {"socks5": "socks5", "http-proxy": "connect"}.get(door, "none")
        clients[door] = procs.start(f"soak-{label}-{door}", [
            env.loadgen, "soak", "--target", f"127.0.0.1:{ports[door]}", "--count", str(per_door),
            "--seconds", str(seconds), "--via", via, "--dest", f"127.0.0.1:{echo}",
            "--interval-ms", str(env.args.interval_ms), "--lifetime-s", str(env.args.lifetime_s),
            "--open-rate", "1000"], pipe_stdio=True)
    samples = []
    stop = threading.Event()

    def sampler():
        started = time.monotonic()
        while not stop.wait(10):
            row = {"t": round(time.monotonic() - started)}
            for n in nodes:
                m = metrics(n.admin)
                row[n.name] = {**n.sample(), "active": int(total(m, "ugate_listener_active_streams"))}
            samples.append(row)
            print(f"  {label} t={row['t']:>3}s  " + "  ".join(
                f"{n.name}: {row[n.name]['active']} streams, {row[n.name]['fds']} fds, "
                f"{row[n.name]['rss_kib'] // 1024} MiB" for n in nodes), flush=True)

    t = threading.Thread(target=sampler, daemon=True)
    t.start()
    results = {}
    try:
        for door, proc in clients.items():
            line = h.read_line(proc, timeout=seconds + 120)
            results[door] = json.loads(line) if line else {"errors": None,
                                                           "first_error": procs.log_tail(f"soak-{label}-{door}")}
    finally:
        stop.set()
        t.join(15)
        for proc in clients.values():
            procs.stop(proc)
    return results, samples


def run(env: h.Env) -> h.Report:
    args = env.args
    report = h.Report(
        f"soak: {args.streams} concurrent streams for {args.seconds} s across tcp, socks5, http-proxy and HBONE",
        f"Method: bench/soak.py (its docstring): {args.streams // len(DOORS)} streams per door, each a 64-byte "
        f"echo every ~{args.interval_ms} ms and a new stream every ~{args.lifetime_s} s (0.5-1.5x); gateway G "
        f"serves tcp, socks5, http-proxy and the HBONE of node A; {args.workers} workers each. Memory and "
        f"descriptors read from /proc once no stream and no mesh connection is open (A's pool idles out after 10 s), "
        f"2 s later; warm = after a {args.warmup} s warm-up of the same load.",
        ["door", "streams", "opened", "ended after their lifetime", "round trips", "errors", "ramp s",
         "fewest open after ramp"])
    with h.Processes(env.workdir) as procs:
        echo = h.start_echo(env, procs)
        g, a, ports = start_nodes(env, procs, echo)
        nodes = [g, a]
        time.sleep(2)
        cold = {n.name: n.quiet(30) for n in nodes}
        print(f"  cold: {cold}")
        if args.warmup:
            load(env, procs, echo, ports, args.warmup, nodes, "warm-up")
            warm = {n.name: n.quiet(60) for n in nodes}
            print(f"  after the warm-up: {warm}")
        else:
            warm = cold
        errors_before = {n.name: total(metrics(n.admin), "ugate_listener_errors_total") for n in nodes}
        results, samples = load(env, procs, echo, ports, args.seconds, nodes, "soak")
        peak = {n.name: max((s[n.name] for s in samples), key=lambda x: x["active"], default={}) for n in nodes}
        after = {n.name: n.quiet(60) for n in nodes}
        print(f"  after: {after}")
        ugate_errors = {n.name: total(metrics(n.admin), "ugate_listener_errors_total") - errors_before[n.name]
                        for n in nodes}
        reasons = {n.name: {k: v for k, v in metrics(n.admin).items()
                            if k.startswith("ugate_listener_errors_total{") and v} for n in nodes}
        print(f"  errors by reason (warm-up included): {reasons}")
        for n in nodes:
            procs.stop(n.proc)
    for door in DOORS:
        r = results[door]
        report.rows.append([door, args.streams // len(DOORS), r.get("opened"), r.get("lived"), r.get("round_trips"),
                            r.get("errors"), r.get("ramp_seconds"), r.get("min_open_after_ramp")])
    # A client that printed nothing (it died) leaves the count unknown: not measured, so not met.
    counts = [r.get("errors") for r in results.values()]
    errors = None if None in counts else sum(counts)
    first = "; ".join(f"{d}: {r['first_error']}" for d, r in results.items() if r.get("first_error"))
    report.check("client errors (all doors)" + (f" (first: {first})" if first else ""), errors, "= 0",
                 lambda v: v == 0, 0)
    # A stream replaced at the end of its life is missing for the moment its successor takes to open.
    after_ramp = [s["g"]["active"] for s in samples if s["t"] >= 30]
    report.check("G: streams open at the peak (every door, HBONE's served side included)",
                 peak["g"].get("active"), f">= {args.streams}", lambda v: v >= args.streams, 0)
    report.check("G: fewest streams open at a sample after 30 s", min(after_ramp, default=None),
                 f">= {int(args.streams * 0.99)}", lambda v: v >= args.streams * 0.99, 0)
    for n in nodes:
        report.check(f"{n.name}: ugate_listener_errors_total during the soak", ugate_errors[n.name], "= 0",
                     lambda v: v == 0, 0)
        for what, unit in (("rss_kib", "KiB"), ("fds", "fds")):
            before, now = warm[n.name][what], after[n.name][what]
            report.reported(f"{n.name}: {what} cold {cold[n.name][what]}, warm {before}, peak "
                            f"{peak[n.name].get(what)}, after {now} ({unit}); after / cold", now / cold[n.name][what])
            report.check(f"{n.name}: {what} after / warm", now / before, "<= 1.05", lambda v: v <= 1.05)
    report.raw = {"results": results, "samples": samples, "cold": cold, "warm": warm, "after": after,
                  "ugate_errors": ugate_errors, "ugate_error_reasons": reasons}
    return report


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--streams", type=int, default=10000, help="concurrent streams, split over the four doors")
    p.add_argument("--seconds", type=int, default=300)
    p.add_argument("--warmup", type=int, default=60, help="seconds of the same load before the figures "
                   "that the targets compare with (0: none, the cold figures are the targets)")
    p.add_argument("--interval-ms", type=int, default=5000, help="between one stream's echoes (jittered)")
    p.add_argument("--lifetime-s", type=int, default=60, help="a stream's life before it is replaced (0.5-1.5x)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--ugate", default=str(h.ROOT / "build/ugate"))
    p.add_argument("--loadgen")
    p.add_argument("--markdown", type=Path)
    p.add_argument("--json", type=Path)
    p.add_argument("--host-netns", action="store_true")
    return p.parse_args(argv)


def main(argv) -> int:
    args = parse_args(argv)
    netns = h.begin_run(args, ())
    if netns is None:
        return 1
    if not os.access(args.ugate, os.X_OK):
        print(f"error: ugate binary not found at {args.ugate} (make build)")
        return 1
    h._raise_nofile()
    with tempfile.TemporaryDirectory(prefix="ugate-soak-") as tmp:
        env = h.Env(args, Path(tmp), h.find_loadgen(args, Path(tmp)), args.ugate)
        started = time.monotonic()
        report = run(env)
    header = (f"ugate soak, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
              f"{time.monotonic() - started:.0f} s, {netns}; ugate: {h.described(args.ugate)}")
    h.publish(header, {"soak": report}, args.markdown, args.json)
    met = all(c[3] in (True, "reported") for c in report.checks)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/python3
"""ugate mesh benchmark: HBONE between two ugate processes beside a stunnel4 pair and raw TCP.

Sections (pick with --only):
  throughput  iperf3 with 1 and with 8 parallel streams (Gbit/s): direct loopback; a stunnel4 pair
              (TLS 1.3, client -> server -> iperf3 server); ugate A (tcp forward to b:PORT) ->
              HBONE (HTTP/2 CONNECT over mTLS) -> ugate B (mesh port) -> iperf3 server
  memory      RSS growth of A and B per idle HBONE stream at about 9000 streams (100 a connection),
              and per pooled connection (a second run with one stream a connection)
  reverse     the reverse path (node B registered with gateway G over ALPN h2r; client -> G -> B ->
              server beside B) beside `ssh -R` (OpenSSH, -N and with a forced tty): iperf3 single
              stream, and 1 KiB round trips (p50/p99)

With --ugate-baseline PATH (as in bench/bench.py) an earlier ugate runs beside --ugate: the HBONE
pair (throughput) and the gateway + node (reverse) each get a twin started from PATH, with its own
mini CA made by PATH, labelled `baseline hbone wN` and `baseline reverse wN`; the twins take turns
with the other contenders in the same rounds, and each ugate / baseline ratio must stay >= 0.97
(latency inverted: baseline p50 / ugate p50). The memory section stays ugate-only: it has no rounds
to take turns in (one run per configuration; its figures barely vary) and its targets are absolute
KiB, not ratios; for a baseline's figures run it again with --ugate PATH.

The same conventions as bench/bench.py (both run on bench/harness.py): every contender runs in one
invocation, contenders take turns round by round, comparisons are medians of per-round ratios,
every process is stopped by its PID, and as root the harness runs in a private network namespace.
Run with /usr/bin/python3; see bench/RESULTS.md.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402  (the shared harness)

SECTIONS = ("throughput", "memory", "reverse")


class Mesh:
    """A mini CA for the run, and ugate nodes made from it; with `baseline`, both from the
    --ugate-baseline binary (its own CA, so that the twin depends on nothing of the current ugate)."""

    def __init__(self, env: h.Env, procs: h.Processes, baseline: bool = False):
        self.env, self.procs = env, procs
        self.binary = env.baseline if baseline else env.ugate
        self.kind = "baseline" if baseline else "ugate"  # starts each process name
        self.ca = env.workdir / ("ca-baseline" if baseline else "ca")
        if not self.binary:
            raise h.StartError(f"{self.kind} binary not found")
        if not self.ca.exists():
            subprocess.run([self.binary, "ca", "init", "--dir", str(self.ca)], check=True, capture_output=True,
                           timeout=30)

    def node(self, name: str, body: str, workers: int, nodes: str = "", mesh: str = "") -> int:
        """Starts ugate node `name` (spiffe .../sa/NAME); (its admin port, its process)."""
        admin = h.free_port()
        label = f"{self.kind}-{name}-{admin}"
        config = self.env.workdir / f"{label}.yaml"
        config.write_text(f"workers: {workers}\nstate_dir: {self.env.workdir}/state-{label}\n"
                          f"admin: {{ address: 127.0.0.1:{admin} }}\naccess_log: {{ path: 'off' }}\n"
                          f"identity: {{ name: {name}, ca: {{ dir: '{self.ca}' }} }}\n{nodes}\n{mesh}\n"
                          f"listeners:\n{body}")
        proc = self.procs.start(label, [self.binary, "--config", str(config)])
        if not h.readyz(admin, timeout=15):
            raise h.StartError(f"{label} not ready: {self.procs.log_tail(label)}")
        return admin, proc

    def pair(self, upstream: int, workers: int, mesh: str = ""):
        """B's mesh port and A's forward to b:upstream; (A's port, A's process, B's process)."""
        b_port, a_port = h.free_port(), h.free_port()
        _, b_proc = self.node("b", f"  - {{ name: mesh, address: '127.0.0.1:{b_port}', protocol: mesh }}\n",
                              workers, mesh=mesh)
        nodes = f"nodes:\n  b: {{ address: '127.0.0.1:{b_port}', id: spiffe://cluster.local/ns/default/sa/b }}"
        _, a_proc = self.node("a", f"  - {{ name: to-b, address: '127.0.0.1:{a_port}', forward: 'b:{upstream}' }}\n",
                              workers, nodes=nodes, mesh=mesh)
        return a_port, a_proc, b_proc


def hbone(env: h.Env, workers: int, baseline: bool = False) -> h.Contender:
    """ugate A -> HBONE -> ugate B; with `baseline`, both from --ugate-baseline."""
    label = f"hbone w{workers}"

    def start(procs: h.Processes, upstream: int):
        port, a_proc, _ = Mesh(env, procs, baseline).pair(upstream, workers)
        return port, a_proc

    return h.Contender(h.baseline_label(label) if baseline else label, start)


def stunnel(env: h.Env) -> h.Contender:
    """A stunnel4 pair: plain TCP in, TLS 1.3 between the two, plain TCP out."""

    def start(procs: h.Processes, upstream: int):
        if not shutil.which("stunnel4"):
            raise h.StartError("stunnel4 not installed (apt-get install stunnel4)")
        key, cert = env.workdir / "stunnel.key", env.workdir / "stunnel.crt"
        if not cert.exists():
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-days", "1", "-subj", "/CN=bench", "-keyout", str(key), "-out", str(cert)],
                           check=True, capture_output=True, timeout=30)
        tls_port, port = h.free_port(), h.free_port()
        common = "foreground = yes\npid =\nsyslog = no\ndebug = 3\nsslVersionMin = TLSv1.3\n"
        server = env.workdir / f"stunnel-server-{tls_port}.conf"
        server.write_text(common + f"[s]\naccept = 127.0.0.1:{tls_port}\nconnect = 127.0.0.1:{upstream}\n"
                                   f"cert = {cert}\nkey = {key}\n")
        client = env.workdir / f"stunnel-client-{port}.conf"
        client.write_text(common + f"[c]\nclient = yes\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{tls_port}\n")
        s_proc = procs.start(f"stunnel-server-{tls_port}", ["stunnel4", str(server)])
        h.wait_listening(procs, f"stunnel-server-{tls_port}", s_proc, tls_port)
        c_proc = procs.start(f"stunnel-client-{port}", ["stunnel4", str(client)])
        h.wait_listening(procs, f"stunnel-client-{port}", c_proc, port)
        return port, c_proc

    return h.Contender("stunnel4", start)


def section_throughput(env: h.Env) -> h.Report:
    seconds, workers = env.args.seconds, env.args.workers
    hb = f"hbone w{workers}"
    contenders = h.with_baseline(env, [h.direct(), stunnel(env), hbone(env, workers)],
                                 lambda c: hbone(env, workers, baseline=True) if c.label == hb else None)
    rows, raw = [], {}
    with h.Processes(env.workdir) as procs:
        server_port = h.free_port()
        ports = h.start_contenders(procs, contenders, server_port)
        for parallel in (1, 8):
            print(f"  -- {parallel} stream(s)")
            results = h.run_rounds(env, ports, lambda port: h.iperf3(procs, server_port, port, seconds, parallel),
                                   lambda v: f"{v:.2f} Gbit/s")
            raw[f"P{parallel}"] = results
            for label, values in results.items():
                rows.append([label, parallel, h.fmt(h.median_of(values)), " ".join(h.fmt(v, 1) for v in values),
                             h.fmt(h.ratio(values, results.get("direct", []))),
                             h.fmt(h.ratio(values, results.get("stunnel4", [])))])
    report = h.Report(f"HBONE throughput, iperf3 {seconds} s x {env.args.rounds} rounds (Gbit/s)",
                      "Method: `iperf3 -c -t S -P N` to a fresh `iperf3 -s -1`: directly; through a stunnel4 "
                      "pair (TLS 1.3, EC P-256 certificate); through ugate A (`forward: b:PORT`) -> HBONE "
                      f"(HTTP/2 CONNECT over mTLS, ztunnel's windows) -> ugate B (`protocol: mesh`), {workers} "
                      "worker(s) each. Gbit/s received; ratios are medians of per-round ratios. Client, server "
                      "and both proxies share the machine's cores.",
                      ["contender", "streams", "median Gbit/s", "per round", "vs direct", "vs stunnel4"], raw=raw)
    report.rows = rows
    p1, p8 = raw["P1"], raw["P8"]
    if hb in p1 and "stunnel4" in p1:
        report.check(f"{hb} / stunnel4, 1 stream", h.ratio(p1[hb], p1["stunnel4"]), ">= 2", lambda v: v >= 2)
    if hb in p1 and "direct" in p1:
        report.reported(f"{hb} / direct, 1 stream", h.ratio(p1[hb], p1["direct"]))
    if hb in p8 and hb in p1:
        # Linear up to the worker count: 8 streams should carry workers x one stream's rate.
        scale = h.ratio(p8[hb], [v and v * workers for v in p1[hb]])
        report.check(f"{hb}: 8 streams / ({workers} x 1 stream)", scale, ">= 0.8", lambda v: v >= 0.8)
    h.check_baseline(report, p1, note=", 1 stream")
    h.check_baseline(report, p8, note=", 8 streams")
    return report


def reverse_ugate(env: h.Env, workers: int, baseline: bool = False) -> h.Contender:
    """Gateway G forwards to b:PORT; B (no listener) keeps a reverse connection to G. With
    `baseline`, both from --ugate-baseline."""
    label = f"ugate reverse w{workers}"

    def start(procs: h.Processes, upstream: int):
        mesh = Mesh(env, procs, baseline)
        g_port, port = h.free_port(), h.free_port()
        _, g_proc = mesh.node("gw", f"  - {{ name: mesh, address: '127.0.0.1:{g_port}', protocol: mesh }}\n"
                                    f"  - {{ name: to-b, address: '127.0.0.1:{port}', forward: 'b:{upstream}' }}\n",
                              workers, nodes="nodes:\n  b: { id: spiffe://cluster.local/ns/default/sa/b }")
        admin, _ = mesh.node("b", "  []\n", workers,
                             nodes=f"nodes:\n  gw: {{ address: '127.0.0.1:{g_port}', id: spiffe://cluster.local/ns/default/sa/gw }}",
                             mesh="remote_accept: [gw]")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # registered once G routes b
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=2) as r:
                if b"ugate_mesh_connections_active 1" in r.read():
                    break
            time.sleep(0.05)
        return port, g_proc

    return h.Contender(h.baseline_label(label) if baseline else label, start)


def ssh_reverse(env: h.Env, tty: bool) -> h.Contender:
    """`ssh -R`: the client side (beside the server) forwards a port on the sshd side back to it."""

    def start(procs: h.Processes, upstream: int):
        if not shutil.which("ssh") or not os.path.exists("/usr/sbin/sshd"):
            raise h.StartError("openssh-server / openssh-client not installed")
        d = env.workdir / "ssh"
        if not d.exists():
            d.mkdir()
            for name in ("host", "user"):
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True,
                               timeout=30)
            (d / "authorized_keys").write_text((d / "user.pub").read_text())
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        sshd_port, port = h.free_port(), h.free_port()
        cfg = d / f"sshd-{sshd_port}.conf"
        cfg.write_text(f"Port {sshd_port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\nPidFile none\n"
                       f"AuthorizedKeysFile {d / 'authorized_keys'}\nStrictModes no\nPasswordAuthentication no\n"
                       "PermitRootLogin prohibit-password\nUsePAM no\nAllowTcpForwarding yes\n")
        sshd = procs.start(f"sshd-{sshd_port}", ["/usr/sbin/sshd", "-D", "-e", "-f", str(cfg)])
        h.wait_listening(procs, f"sshd-{sshd_port}", sshd, sshd_port)
        argv = ["ssh", "-i", str(d / "user"), "-p", str(sshd_port), "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
                "-R", f"127.0.0.1:{port}:127.0.0.1:{upstream}"]
        argv += ["-tt", "root@127.0.0.1", "sleep", "600"] if tty else ["-N", "root@127.0.0.1"]
        name = f"ssh-{'tt' if tty else 'N'}-{port}"
        client = procs.start(name, argv, pipe_stdio=tty)  # -tt wants a stdin to read from
        h.wait_listening(procs, name, client, port)
        return port, client

    return h.Contender("ssh -R -tt" if tty else "ssh -R -N", start)


def section_reverse(env: h.Env) -> h.Report:
    seconds, workers, count = env.args.seconds, env.args.workers, env.args.latency_count
    ug = f"ugate reverse w{workers}"
    contenders = h.with_baseline(
        env, [h.direct(), reverse_ugate(env, workers), ssh_reverse(env, False), ssh_reverse(env, True)],
        lambda c: reverse_ugate(env, workers, baseline=True) if c.label == ug else None)
    raw = {}
    with h.Processes(env.workdir) as procs:
        server_port = h.free_port()
        ports = h.start_contenders(procs, contenders, server_port)
        print("  -- iperf3, 1 stream")
        raw["iperf"] = h.run_rounds(env, ports, lambda port: h.iperf3(procs, server_port, port, seconds),
                                    lambda v: f"{v:.2f} Gbit/s")
    with h.Processes(env.workdir) as procs:
        ports = h.start_contenders(procs, contenders, h.start_echo(env, procs))
        print("  -- latency")
        raw["latency"] = h.run_rounds(
            env, ports, lambda port: h.run_loadgen(env, ["latency", "--target", f"127.0.0.1:{port}", "--count",
                                                         str(count), "--size", "1024"], timeout=120),
            lambda v: f"p50 {v['p50_us']:.1f} us  p99 {v['p99_us']:.1f} us")
    thr = raw["iperf"]
    p50 = {k: [v and v["p50_us"] for v in vs] for k, vs in raw["latency"].items()}
    p99 = {k: [v and v["p99_us"] for v in vs] for k, vs in raw["latency"].items()}
    report = h.Report(
        f"reverse path beside ssh -R: iperf3 {seconds} s, {count} x 1 KiB round trips, {env.args.rounds} rounds",
        "Method: the client talks to the gateway side, the server sits beside the node behind it. ugate: "
        f"gateway G (`forward: b:PORT`, {workers} worker(s)) and node B with `remote_accept: [gw]` (its "
        "mTLS connection to G, ALPN h2r, carries the streams). ssh: `ssh -R 127.0.0.1:P:127.0.0.1:SERVER` "
        "to a private sshd (ed25519 keys), with -N, and with a forced tty (-tt ... sleep), as PEERS.md "
        "suggests. Throughput: `iperf3 -t S`; latency: `ugate-loadgen latency` (1 KiB written, echoed, "
        "TCP_NODELAY on the client). 'added' is the median of per-round differences against direct.",
        ["contender", "Gbit/s", "vs direct", "p50 us", "p99 us", "p99/p50", "added p50 us"], raw=raw)
    for label in thr:
        report.rows.append([label, h.fmt(h.median_of(thr[label])), h.fmt(h.ratio(thr[label], thr.get("direct", []))),
                            h.fmt(h.median_of(p50.get(label, [])), 1), h.fmt(h.median_of(p99.get(label, [])), 1),
                            h.fmt(h.ratio(p99.get(label, []), p50.get(label, []))),
                            h.fmt(h.diff(p50.get(label, []), p50.get("direct", [])), 1)])
    for ssh in ("ssh -R -N", "ssh -R -tt"):
        if ug in thr and ssh in thr:
            report.check(f"{ug} / {ssh} throughput", h.ratio(thr[ug], thr[ssh]), ">= 2", lambda v: v >= 2)
            added_ug = h.diff(p50[ug], p50.get("direct", []))
            added_ssh = h.diff(p50[ssh], p50.get("direct", []))
            if added_ug is not None and added_ssh is not None:
                report.check(f"{ug} added p50 - {ssh} added p50 (us)", added_ug - added_ssh, "<= 0",
                             lambda v: v <= 0, digits=1)
    if ug in p50:
        report.check(f"{ug} p99 / p50", h.ratio(p99[ug], p50[ug]), "<= 2", lambda v: v <= 2)
    h.check_baseline(report, thr, note=" throughput")
    h.check_baseline(report, p50, higher_is_better=False, note=" p50")
    return report


def idle_streams(env: h.Env, procs: h.Processes, count: int, per_connection: int, report: h.Report) -> dict:
    """Holds `count` idle streams through A -> B; RSS growth of each side."""
    mesh = f"mesh: {{ streams_per_connection: {per_connection} }}"
    echo_port = h.start_echo(env, procs)
    a_port, a_proc, b_proc = Mesh(env, procs).pair(echo_port, env.args.workers, mesh=mesh)
    h.check_idle(env)
    time.sleep(1)
    before = {"A": h.rss_kib(a_proc.pid), "B": h.rss_kib(b_proc.pid)}
    fds_before = {"A": h.open_fds(a_proc.pid), "B": h.open_fds(b_proc.pid)}
    client = procs.start(f"idle-{a_port}", [env.loadgen, "idle", "--target", f"127.0.0.1:{a_port}",
                                            "--count", str(count)], pipe_stdio=True)
    try:
        status = json.loads(h.read_line(client, timeout=300) or "{}")
        if h.read_line(client, timeout=5) != "ready":
            raise RuntimeError(f"idle client did not get ready: {procs.log_tail(f'idle-{a_port}')}")
        time.sleep(1)
        after = {"A": h.rss_kib(a_proc.pid), "B": h.rss_kib(b_proc.pid)}
        fds = {"A": h.open_fds(a_proc.pid), "B": h.open_fds(b_proc.pid)}
    finally:
        procs.stop(client)
    opened = status.get("open", 0)
    if status.get("error"):
        print(f"  ! only {opened} of {count} streams opened: {status['error']}")
    out = {"streams": opened}
    for side in ("A", "B"):
        growth = after[side] - before[side]
        # Each stream holds one socket on either side (A: its client; B: its upstream); the other
        # new descriptors are the mesh connections (each worker pools its own).
        connections = max(fds[side] - fds_before[side] - opened, 0)
        out[side] = {"rss_before_kib": before[side], "rss_after_kib": after[side], "growth_kib": growth,
                     "fds": fds[side], "connections": connections}
        report.rows.append([side, per_connection, opened, connections, fds[side], before[side], after[side],
                            h.fmt(growth / opened if opened else None)])
        print(f"  {side}: {opened} streams, {per_connection} a connection: RSS {before[side]} -> {after[side]} KiB "
              f"({h.fmt(growth / opened if opened else None)} KiB per stream), {fds[side]} fds")
    for p in (a_proc, b_proc):
        procs.stop(p)
    return out


def stream_and_connection_cost(pooled: dict, single: dict, side: str) -> tuple[float, float]:
    """KiB per idle stream and per idle connection, from two runs with different streams per
    connection: growth = S x streams + C x connections, two equations for S and C."""
    n1, c1, g1 = pooled["streams"], pooled[side]["connections"], pooled[side]["growth_kib"]
    n2, c2, g2 = single["streams"], single[side]["connections"], single[side]["growth_kib"]
    c = (g2 * n1 - g1 * n2) / (c2 * n1 - c1 * n2)
    return (g1 - c * c1) / n1, c


def section_memory(env: h.Env) -> h.Report:
    count, few = env.args.idle_streams, env.args.idle_connections
    if env.baseline:
        print("  note: no baseline twin in this section (one run per configuration, absolute targets)")
    report = h.Report(
        f"memory per idle HBONE stream ({count} streams) and per pooled connection",
        "Method: A forwards to b:ECHO through HBONE; `ugate-loadgen idle` opens the streams one at a time, each "
        "with a 1-byte round trip (so B has dialled the echo server), and holds them; VmRSS of A and of B "
        "before (after 1 s of settling) and after (1 s after the last). Run 1: 100 streams a connection "
        f"({count} streams). Run 2: one stream a connection ({few} streams), so each stream brings its own "
        "connection. Connections = new descriptors minus one per stream. The cost of an idle stream S "
        "and of an idle connection C solve growth = S x streams + C x connections for both runs. Kernel "
        f"socket buffers are not in RSS. {env.args.workers} worker(s) each.",
        ["side", "streams a connection", "streams", "connections", "fds", "RSS before KiB", "RSS after KiB",
         "KiB per stream"])
    with h.Processes(env.workdir) as procs:
        pooled = idle_streams(env, procs, count, 100, report)
    with h.Processes(env.workdir) as procs:
        single = idle_streams(env, procs, few, 1, report)
    report.raw = {"pooled": pooled, "single": single}
    for side in ("A", "B"):
        if not pooled["streams"] or not single["streams"]:
            continue
        per_stream, per_connection = stream_and_connection_cost(pooled, single, side)
        report.check(f"{side}: KiB per idle HBONE stream", per_stream, "<= 2", lambda v: v <= 2)
        report.check(f"{side}: KiB per idle pooled connection", per_connection, "<= 32", lambda v: v <= 32)
    return report


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections, from " + ",".join(SECTIONS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=5, help="length of one iperf3 run")
    p.add_argument("--workers", type=int, default=2, help="workers of each ugate node")
    p.add_argument("--idle-streams", type=int, default=9000, help="streams held for the memory test (run 1)")
    p.add_argument("--idle-connections", type=int, default=2000,
                   help="streams held with one connection each (run 2 of the memory test)")
    p.add_argument("--latency-count", type=int, default=20000, help="round trips per latency run (reverse)")
    p.add_argument("--ugate", default=str(h.ROOT / "build/ugate"))
    p.add_argument("--ugate-baseline", help="an earlier ugate binary, run beside --ugate in the same rounds "
                   "(throughput, reverse; not memory); each ratio ugate / baseline must stay >= 0.97")
    p.add_argument("--loadgen")
    p.add_argument("--markdown", type=Path)
    p.add_argument("--json", type=Path)
    p.add_argument("--host-netns", action="store_true")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    if set(args.only) - set(SECTIONS):
        p.error(f"unknown section(s) {', '.join(sorted(set(args.only) - set(SECTIONS)))}")
    return args


def main(argv) -> int:
    args = parse_args(argv)
    netns = h.begin_run(args, ("iperf3", "stunnel4", "openssl", "ssh"))
    if netns is None:
        return 1
    if not os.access(args.ugate, os.X_OK):
        print(f"error: ugate binary not found at {args.ugate} (make build)")
        return 1
    if args.ugate_baseline and not os.access(args.ugate_baseline, os.X_OK):
        print(f"error: baseline binary not found at {args.ugate_baseline}")
        return 1
    with tempfile.TemporaryDirectory(prefix="ugate-mesh-bench-") as tmp:
        env = h.Env(args, Path(tmp), h.find_loadgen(args, Path(tmp)), args.ugate, args.ugate_baseline)
        reports, elapsed = h.run_sections(env, {"throughput": section_throughput, "memory": section_memory,
                                                "reverse": section_reverse})
    header = (f"ugate mesh bench, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {args.rounds} rounds, "
              f"{elapsed:.0f} s, {netns}; ugate: {h.described(args.ugate)}")
    if args.ugate_baseline:
        header += "; baseline: " + h.described(args.ugate_baseline)
    h.publish(header, reports, args.markdown, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

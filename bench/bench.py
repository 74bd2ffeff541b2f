#!/usr/bin/python3
"""ugate benchmark harness: ugate side by side with direct loopback, HAProxy 2.6, socat and the usual proxies.

Loopback figures on a small machine swing by 15% from run to run, so absolute numbers mean little.
All contenders run in one invocation, take turns round by round (the order rotates every round), and
every comparison is the median of per-round ratios (contender A in round r / contender B in round r).

Sections (pick with --only):
  iperf     iperf3 single stream, Gbit/s
  connrate  new connections per second (connect, 1-byte round trip, close), ugate-loadgen
  memory    RSS growth per idle proxied connection at about 9000 connections
  latency   1 KiB request/response round trips over one connection, p50/p99 in microseconds
  doors     single-stream throughput through SOCKS5, HTTP CONNECT and TLS-by-SNI proxies (ugate's doors,
            dante, microsocks, tinyproxy, HAProxy req.ssl_sni, nginx ssl_preread), ugate-loadgen, Gbit/s

Every process started here runs in its own session and is stopped by its PID (process group) on
exit, even on errors or Ctrl-C. Ports are picked by binding port 0 on 127.0.0.1. Standard library
only; run with /usr/bin/python3. See bench/RESULTS.md.
"""

import argparse
import ctypes
import json
import os
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("iperf", "connrate", "memory", "latency", "doors")


# ---- processes --------------------------------------------------------------------------------

def _raise_nofile():
    """Child preexec: take the whole open-files hard limit (20000 here; a proxy needs 2 fds per
    proxied connection)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Processes:
    """Starts helper processes and stops each one by PID when the `with` block ends."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.names: dict[subprocess.Popen, str] = {}  # running children, in start order

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for proc in reversed(list(self.names)):
            self.stop(proc)

    def start(self, name: str, argv: list[str], pipe_stdio: bool = False) -> subprocess.Popen:
        """Start argv; stderr (and stdout unless pipe_stdio) go to WORKDIR/NAME.log."""
        with open(self.workdir / f"{name}.log", "ab") as log:
            pipe = subprocess.PIPE if pipe_stdio else subprocess.DEVNULL
            # Unbuffered pipes, so that read_line's select() sees every line that is not read yet.
            proc = subprocess.Popen(argv, stdin=pipe, stdout=pipe if pipe_stdio else log, stderr=log,
                                    bufsize=0, start_new_session=True, preexec_fn=_raise_nofile)
        self.names[proc] = name
        return proc

    def log_tail(self, name: str, lines: int = 5) -> str:
        path = self.workdir / f"{name}.log"
        text = path.read_text(errors="replace").strip() if path.exists() else ""
        return " | ".join(text.splitlines()[-lines:]) or "(no output)"

    def stop(self, proc: subprocess.Popen):
        """SIGTERM the process group (socat forks a child per connection), SIGKILL after 15 s
        (longer than ugate's default 10 s drain). Complains when ugate needs SIGKILL or exits
        non-zero: it should drain and exit 0."""
        name = self.names.pop(proc)
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                print(f"  ! {name} (pid {proc.pid}) ignored SIGTERM for 15 s; killing it")
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        if name.startswith(("ugate", "baseline")) and proc.returncode != 0:
            print(f"  ! {name} exited with status {proc.returncode} after SIGTERM (expected 0): "
                  f"{self.log_tail(name)}")
        for stream in (proc.stdin, proc.stdout):
            if stream:
                stream.close()


def _signal_group(pgid: int, sig: int):
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_listening(port: int) -> bool:
    """True when some socket LISTENs on 127.0.0.1:port. Read from /proc instead of connecting,
    because a probe connection would be proxied to the upstream (and confuse iperf3's server)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(line.split()[1] == want and line.split()[3] == "0A" for line in f.readlines()[1:])


def wait_listening(procs: Processes, name: str, proc: subprocess.Popen, port: int, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while not is_listening(port):
        if proc.poll() is not None:
            raise StartError(f"{name} exited with status {proc.returncode}: {procs.log_tail(name)}")
        if time.monotonic() > deadline:
            raise StartError(f"{name} not listening on {port} after {timeout:.0f} s: {procs.log_tail(name)}")
        time.sleep(0.05)


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """One line of a piped child's stdout, or '' on timeout/EOF."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().decode().strip() if ready else ""


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def busy_cpu_percent(interval: float) -> float:
    """Share of all CPUs busy over the interval (/proc/stat)."""
    def sample():
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        return ticks[3] + ticks[4], sum(ticks)  # idle + iowait, total
    idle0, total0 = sample()
    time.sleep(interval)
    idle1, total1 = sample()
    return 100.0 * (1 - (idle1 - idle0) / max(1, total1 - total0))


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class StartError(Exception):
    """A contender could not be started; the harness skips it and says why."""


# ---- contenders -------------------------------------------------------------------------------

@dataclass
class Env:
    args: argparse.Namespace
    workdir: Path
    loadgen: str
    ugate: str | None  # None when the binary is missing: ugate contenders are skipped
    baseline: str | None = None  # --ugate-baseline: an earlier ugate, run beside it as "baseline ..."
    busy: list[float] = field(default_factory=list)  # the current section's samples, see check_idle


def check_idle(env: Env):
    """Samples CPU use while no contender is under load: anything above a few percent is other
    work on the machine (a compile halves every figure, and not evenly)."""
    busy = busy_cpu_percent(0.5)
    env.busy.append(busy)
    if busy > 10:
        print(f"  ! the CPUs are {busy:.0f}% busy with other work; figures from now on are unreliable")


@dataclass
class Contender:
    """Something that forwards 127.0.0.1:<port> to an upstream port."""
    label: str
    start: Callable[[Processes, int], tuple[int, subprocess.Popen | None]]  # upstream -> (port, process)


def direct() -> Contender:
    return Contender("direct", lambda procs, upstream: (upstream, None))


def ugate(env: Env, workers: int, splice: bool = True, baseline: bool = False) -> Contender:
    label = f"ugate {'splice' if splice else 'copy'} w{workers}"
    label = baseline_label(label) if baseline else label

    def start(procs: Processes, upstream: int):
        listener = (f"protocol: tcp\n    forward: 127.0.0.1:{upstream}\n"
                    f"    splice: {'true' if splice else 'false'}")
        port, _, proc = start_ugate(env, procs, label, workers, listener,
                                    binary=env.baseline if baseline else env.ugate)
        return port, proc

    return Contender(label, start)


def baseline_label(label: str) -> str:
    """The label of a ugate contender's baseline twin: `ugate X` -> `baseline X`, any other
    (`hbone w2`, in mesh_bench.py) -> `baseline hbone w2`."""
    return "baseline " + label.removeprefix("ugate ")


def ugate_twin(env: Env, c: Contender) -> Contender | None:
    """The baseline twin of ugate()'s `ugate MODE wN`; None for any other contender."""
    if not c.label.startswith("ugate "):
        return None
    mode, workers = c.label.split()[1], int(c.label.split()[2][1:])
    return ugate(env, workers, splice=mode == "splice", baseline=True)


def with_baseline(env: Env, contenders: list[Contender],
                  twin: Callable[[Contender], Contender | None] | None = None) -> list[Contender]:
    """With --ugate-baseline, each ugate contender is followed by its baseline twin, which runs in
    the same rounds. twin(contender) makes the twin (labelled baseline_label(contender.label), so
    that check_baseline finds the pair) or returns None; by default ugate_twin."""
    if not env.baseline:
        return contenders
    twin = twin or (lambda c: ugate_twin(env, c))
    out = []
    for c in contenders:
        out.append(c)
        t = twin(c)
        if t:
            assert t.label == baseline_label(c.label), (t.label, c.label)
            out.append(t)
    return out


def check_baseline(report: "Report", results: dict, higher_is_better: bool = True, note: str = ""):
    """ugate X / baseline X for each pair (see with_baseline): no ratio may fall by more than 3%.
    A time (higher_is_better False) is inverted: baseline / ugate. `note` goes after the pair."""
    for label in results:
        twin = baseline_label(label)
        if not label.startswith("baseline ") and twin in results:
            r = ratio(results[label], results[twin]) if higher_is_better else ratio(results[twin], results[label])
            report.check(f"{label} / {twin}{note}" if higher_is_better else f"{twin} / {label}{note} (time)", r,
                         ">= 0.97", lambda v: v >= 0.97)


def start_ugate(env: Env, procs: Processes, label: str, workers: int, listener: str, binary: str | None = None):
    """One ugate with one listener `bench` on a fresh port; `listener` is the rest of its YAML
    (protocol and options, indented as under `- name: bench`). Returns (port, admin port, process)."""
    binary = binary or env.ugate
    if not binary:
        raise StartError("ugate binary not found")
    port, admin = free_port(), free_port()
    name = label.replace(" ", "-") + f"-{port}"
    config = env.workdir / f"{name}.yaml"
    config.write_text(f"""\
workers: {workers}
admin:
  address: 127.0.0.1:{admin}
access_log:
  path: "off"
listeners:
  - name: bench
    address: 127.0.0.1:{port}
    {listener}
""")
    proc = procs.start(name, [binary, "--config", str(config)])
    wait_listening(procs, name, proc, port)
    if not readyz(admin, timeout=10):
        print(f"  ! {label}: listener is up but GET /readyz on :{admin} did not return 200 in 10 s")
    return port, admin, proc


def readyz(admin_port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def haproxy_head(nbthread: int, splice: bool) -> str:
    """The global and defaults sections of every HAProxy config here."""
    splice_options = "option splice-request\n    option splice-response" if splice else ""
    return f"""\
global
    nbthread {nbthread}
    maxconn 9500
    maxpipes 200
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    {splice_options}
"""


def haproxy(env: Env, nbthread: int, splice: bool) -> Contender:
    """HAProxy 2.6 `mode tcp` at its best for the test: for bulk transfer, splice, which it only
    uses with both explicit options (splice-auto mostly doesn't); for small messages its default
    copy path, which measured as fast or faster than forced splice here.
    HAProxy reserves 2 fds per maxconn plus 2 per maxpipes (default maxconn/4) and refuses to start
    above the 20000 open-files limit, hence the small maxpipes: one iperf3 stream needs few pipes."""
    label = f"haproxy nbthread {nbthread}" + (" splice" if splice else "")

    def start(procs: Processes, upstream: int):
        port = free_port()
        name = f"haproxy-{nbthread}-{port}"
        config = env.workdir / f"{name}.cfg"
        config.write_text(haproxy_head(nbthread, splice) + f"""\
listen bench
    bind 127.0.0.1:{port}
    server upstream 127.0.0.1:{upstream}
""")
        proc = procs.start(name, ["haproxy", "-db", "-f", str(config)])
        wait_listening(procs, name, proc, port)
        return port, proc

    return Contender(label, start)


def socat() -> Contender:
    def start(procs: Processes, upstream: int):
        port = free_port()
        name = f"socat-{port}"
        proc = procs.start(name, ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                                  f"TCP:127.0.0.1:{upstream}"])
        wait_listening(procs, name, proc, port)
        return port, proc

    return Contender("socat", start)


def floor_relay(env: Env, threads: int) -> Contender:
    """`ugate-loadgen relay`: the least a TCP proxy must do per connection (accept, dial, recv/send,
    shutdown, close; no timeouts, limits, logs or metrics). No proxy can beat it by much, so it
    shows how much of a proxy's cost is the kernel's."""
    label = f"floor relay t{threads}"

    def start(procs: Processes, upstream: int):
        name = label.replace(" ", "-")
        port, proc = loadgen_server(env, procs, name, "relay", "--target", f"127.0.0.1:{upstream}",
                                    "--threads", str(threads))
        if port is None:
            raise StartError(f"relay did not start: {procs.log_tail(name)}")
        return port, proc

    return Contender(label, start)


def start_echo(env: Env, procs: Processes) -> int:
    return start_loadgen_server(env, procs, "echo")


def start_loadgen_server(env: Env, procs: Processes, mode: str) -> int:
    """`ugate-loadgen echo` or `sink` on a port of its choice; returns the port."""
    port, _ = loadgen_server(env, procs, mode, mode)
    if port is None:
        raise SystemExit(f"{mode} server did not start: {procs.log_tail(mode)}")
    return port


def loadgen_server(env: Env, procs: Processes, name: str, mode: str, *args: str):
    """`ugate-loadgen MODE --listen 127.0.0.1:0 ARGS...`; (the port it announced or None, its process)."""
    proc = procs.start(name, [env.loadgen, mode, "--listen", "127.0.0.1:0", *args], pipe_stdio=True)
    line = read_line(proc, timeout=5)
    return (json.loads(line)["port"] if line else None), proc


def start_contenders(procs: Processes, contenders: list[Contender], upstream: int,
                     started: dict | None = None) -> dict[str, int]:
    """Start each contender once for the whole section; returns label -> port for those that run
    (and puts label -> process, None for direct, into `started` when given)."""
    ports = {}
    for c in contenders:
        try:
            ports[c.label], proc = c.start(procs, upstream)
            if started is not None:
                started[c.label] = proc
        except StartError as e:
            print(f"  - skipping {c.label}: {e}")
    return ports


def run_rounds(env: Env, ports: dict[str, int], measure, describe) -> dict[str, list]:
    """Each round runs every contender once; the order rotates so that none always goes first.
    measure(port) returns a value or raises RuntimeError; failures are recorded as None."""
    labels = list(ports)
    results: dict[str, list] = {label: [] for label in labels}
    for r in range(env.args.rounds):
        check_idle(env)
        shift = r % len(labels)
        for label in labels[shift:] + labels[:shift]:
            try:
                value = measure(ports[label])
                print(f"  round {r + 1}/{env.args.rounds}  {label:<26} {describe(value)}")
            except RuntimeError as e:
                value = None
                print(f"  round {r + 1}/{env.args.rounds}  {label:<26} FAILED: {e}")
            results[label].append(value)
    return results


# ---- statistics and report --------------------------------------------------------------------

def median_of(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(a: list, b: list) -> float | None:
    """Median over rounds of a[r] / b[r], using only rounds where both ran."""
    return median_of([x / y for x, y in zip(a, b) if x is not None and y])


def diff(a: list, b: list) -> float | None:
    """Median over rounds of a[r] - b[r]."""
    return median_of([x - y for x, y in zip(a, b) if x is not None and y is not None])


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def best(results: dict[str, list], prefix: str) -> str | None:
    """Label starting with prefix that has the highest median (e.g. the better HAProxy)."""
    medians = {k: median_of(v) for k, v in results.items() if k.startswith(prefix)}
    medians = {k: m for k, m in medians.items() if m is not None}
    return max(medians, key=medians.get) if medians else None


@dataclass
class Report:
    """One section's output: a table, target checks, notes on method, and the raw figures."""
    title: str
    method: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    checks: list[tuple[str, str, str, bool | None]] = field(default_factory=list)  # what, value, target, met
    raw: dict = field(default_factory=dict)
    busy: float | None = None  # highest CPU use by other work seen during the section, percent

    def check(self, what: str, value: float | None, target: str, met, digits: int = 2):
        self.checks.append((what, fmt(value, digits), target, None if value is None else bool(met(value))))

    def notes(self) -> list[str]:
        if self.busy is None:
            return [self.method]
        warning = " (UNRELIABLE: run again on an idle machine)." if self.busy > 10 else "."
        return [self.method,
                f"Machine: other work used up to {self.busy:.0f}% of the CPUs between measurements{warning}"]

    def text(self) -> str:
        widths = [max(len(str(x)) for x in col) for col in zip(self.columns, *self.rows)]
        line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
        out = [f"== {self.title} ==", *self.notes(), "", line(self.columns), line("-" * w for w in widths)]
        out += [line(row) for row in self.rows]
        if self.checks:
            out.append("")
            out += [f"  {what}: {value}  (target {target}) {verdict(met)}"
                    for what, value, target, met in self.checks]
        return "\n".join(out)

    def markdown(self) -> str:
        out = [f"### {self.title}", "", "\n\n".join(self.notes()), "",
               "| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        out += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
        if self.checks:
            out += ["", "| check | value | target | |", "|---|---|---|---|"]
            out += [f"| {what} | {value} | {target} | {verdict(met)} |"
                    for what, value, target, met in self.checks]
        return "\n".join(out)


def verdict(met: bool | None) -> str:
    return {True: "MET", False: "MISSED", None: "not measured"}[met]


# ---- sections ---------------------------------------------------------------------------------

def section_iperf(env: Env) -> Report:
    seconds = env.args.seconds
    contenders = with_baseline(env, [direct(), ugate(env, 1), ugate(env, 2), ugate(env, 1, splice=False),
                                     ugate(env, 2, splice=False), haproxy(env, 1, splice=True),
                                     haproxy(env, 2, splice=True), socat()])
    with Processes(env.workdir) as procs:
        server_port = free_port()
        ports = start_contenders(procs, contenders, server_port)

        def measure(port: int) -> float:
            # A fresh one-test server each time, so a contender that breaks a test cannot leave
            # the server busy for the next one.
            server = procs.start("iperf3-server",
                                 ["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(server_port)])
            try:
                wait_listening(procs, "iperf3-server", server, server_port)
                cmd = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"]
                done = subprocess.run(cmd, capture_output=True, timeout=seconds + 20)
            except (StartError, subprocess.TimeoutExpired) as e:
                raise RuntimeError(str(e))
            finally:
                procs.stop(server)
            try:
                report = json.loads(done.stdout)
            except json.JSONDecodeError:
                raise RuntimeError(f"iperf3 printed no JSON: {done.stderr.decode().strip()}")
            if "error" in report:
                raise RuntimeError(f"iperf3: {report['error']}")
            return report["end"]["sum_received"]["bits_per_second"] / 1e9

        results = run_rounds(env, ports, measure, lambda v: f"{v:.2f} Gbit/s")

    report = Report(f"iperf3 single stream, {seconds} s x {env.args.rounds} rounds (Gbit/s)",
                    "Method: `iperf3 -c -t S` through each contender to a fresh `iperf3 -s -1`; "
                    "Gbit/s received. ugate with 1 and 2 workers, splice and copy path; HAProxy `mode tcp` "
                    "with `option splice-request` and `option splice-response`; socat with its defaults "
                    "(`TCP-LISTEN:P,reuseaddr,fork TCP:...`). Ratios are medians of per-round ratios.",
                    ["contender", "median Gbit/s", "per round", "vs direct"], raw=results)
    for label, values in results.items():
        report.rows.append([label, fmt(median_of(values)), " ".join(fmt(v, 1) for v in values),
                            fmt(ratio(values, results.get("direct", [])))])
    top_haproxy = best(results, "haproxy")
    for label in results:
        if top_haproxy and label.startswith("ugate splice"):
            report.check(f"{label} / {top_haproxy}", ratio(results[label], results[top_haproxy]),
                         ">= 1.1", lambda v: v >= 1.1)
        if "socat" in results and label.startswith("ugate copy"):
            report.check(f"{label} / socat", ratio(results[label], results["socat"]),
                         ">= 1.5", lambda v: v >= 1.5)
    check_baseline(report, results)
    return report


def section_connrate(env: Env) -> Report:
    seconds, concurrency = env.args.seconds, env.args.concurrency
    contenders = with_baseline(env, [direct(), ugate(env, 1), ugate(env, 2), haproxy(env, 1, splice=False),
                                     haproxy(env, 2, splice=False), floor_relay(env, 1), floor_relay(env, 2)])
    with Processes(env.workdir) as procs:
        ports = start_contenders(procs, contenders, start_echo(env, procs))

        def measure(port: int) -> dict:
            out = run_loadgen(env, ["connrate", "--target", f"127.0.0.1:{port}", "--seconds", str(seconds),
                                    "--concurrency", str(concurrency)], timeout=seconds + 20)
            if out["connections"] == 0:
                raise RuntimeError(f"no connection completed: {out['first_error']}")
            return out

        raw = run_rounds(env, ports, measure,
                         lambda v: f"{v['rate']:.0f} conn/s" + (f", {v['errors']} errors ({v['first_error']})"
                                                               if v["errors"] else ""))
    results = {label: [v and v["rate"] for v in values] for label, values in raw.items()}
    errors = {label: sum(v["errors"] for v in values if v) for label, values in raw.items()}
    report = Report(f"new connections per second, {seconds} s x {env.args.rounds} rounds, "
                    f"{concurrency} in flight",
                    "Method: `ugate-loadgen connrate` (connect, write 1 byte, read the echo, close; "
                    f"{concurrency} connections in flight) against `ugate-loadgen echo`, directly or "
                    "through the contender (ugate splice path; HAProxy default copy path; the floor relay: "
                    "`ugate-loadgen relay`, only the system calls every TCP proxy must make). Client, echo "
                    "server and proxy share the machine's cores.",
                    ["contender", "median conn/s", "per round", "vs direct", "errors"], raw=raw)
    for label, values in results.items():
        report.rows.append([label, fmt(median_of(values), 0), " ".join(fmt(v, 0) for v in values),
                            fmt(ratio(values, results.get("direct", []))), errors[label]])
    top_haproxy, top_floor = best(results, "haproxy"), best(results, "floor")
    for label in results:
        if top_haproxy and label.startswith("ugate"):
            report.check(f"{label} / {top_haproxy}", ratio(results[label], results[top_haproxy]),
                         ">= 1.2", lambda v: v >= 1.2)
    # What any proxy could reach: a target above the floor's own ratio cannot be met by a proxy.
    for label in (top_floor, top_haproxy):
        if top_floor and label and label != top_floor:
            report.check(f"{top_floor} / {label} (reported)", ratio(results[top_floor], results[label]),
                         "-", lambda v: True)
    check_baseline(report, results)
    for label in results:
        if top_floor and label.startswith("ugate"):
            report.check(f"{label} / {top_floor} (reported)", ratio(results[label], results[top_floor]),
                         "-", lambda v: True)
    return report


def section_memory(env: Env) -> Report:
    count = env.args.idle_connections
    contenders = [ugate(env, 2), haproxy(env, 1, splice=False)]
    report = Report(
        f"memory per idle proxied connection, {count} connections",
        "Method: start the proxy, let it settle 1 s, read VmRSS from /proc/PID/status; open the "
        "connections with `ugate-loadgen idle` (one at a time, each with a 1-byte round trip so the "
        "proxy has dialled upstream), wait for it to report ready plus 1 s, read VmRSS again; "
        "KiB per connection = RSS growth / connections held. Kernel socket buffers are not in RSS "
        "and not counted. One run per contender (the figure barely varies).",
        ["contender", "connections", "proxy fds", "RSS before KiB", "RSS after KiB", "KiB per connection"])
    with Processes(env.workdir) as procs:
        echo_port = start_echo(env, procs)
        for c in contenders:
            try:
                port, proc = c.start(procs, echo_port)
            except StartError as e:
                print(f"  - skipping {c.label}: {e}")
                continue
            check_idle(env)
            per_conn = measure_idle(env, procs, proc.pid, port, count, c.label, report)
            procs.stop(proc)  # one proxy at a time: they share the echo server's fd budget
            if c.label.startswith("ugate"):
                report.check(f"{c.label} KiB per idle connection", per_conn, "<= 3", lambda v: v <= 3)
    return report


def measure_idle(env: Env, procs: Processes, pid: int, port: int, count: int, label: str, report: Report):
    time.sleep(1)
    before = rss_kib(pid)
    client = procs.start(f"idle-{port}", [env.loadgen, "idle", "--target", f"127.0.0.1:{port}",
                                          "--count", str(count)], pipe_stdio=True)
    try:
        status = json.loads(read_line(client, timeout=120) or "{}")
        if read_line(client, timeout=5) != "ready":
            print(f"  - {label}: idle client did not get ready: {procs.log_tail(f'idle-{port}')}")
            return None
        if status.get("error"):
            print(f"  ! {label}: only {status['open']} of {count} connections opened: {status['error']}")
        time.sleep(1)
        after, fds = rss_kib(pid), open_fds(pid)
    finally:
        procs.stop(client)  # stop holding; closing stdin would do as well
    per_conn = (after - before) / status["open"] if status.get("open") else None
    print(f"  {label:<26} {status['open']} connections: RSS {before} -> {after} KiB, "
          f"{fmt(per_conn)} KiB per connection, {fds} fds open")
    report.rows.append([label, status["open"], fds, before, after, fmt(per_conn)])
    report.raw[label] = {"connections": status["open"], "fds": fds, "rss_before_kib": before,
                         "rss_after_kib": after, "kib_per_connection": per_conn}
    return per_conn


def section_latency(env: Env) -> Report:
    count = env.args.latency_count
    contenders = with_baseline(env, [direct(), ugate(env, 2), ugate(env, 2, splice=False),
                                     haproxy(env, 1, splice=False)])
    with Processes(env.workdir) as procs:
        ports = start_contenders(procs, contenders, start_echo(env, procs))

        def measure(port: int) -> dict:
            return run_loadgen(env, ["latency", "--target", f"127.0.0.1:{port}", "--count", str(count),
                                     "--size", "1024"], timeout=120)

        raw = run_rounds(env, ports, measure, lambda v: f"p50 {v['p50_us']:.1f} us  p99 {v['p99_us']:.1f} us")
    p50 = {label: [v and v["p50_us"] for v in values] for label, values in raw.items()}
    p99 = {label: [v and v["p99_us"] for v in values] for label, values in raw.items()}
    report = Report(f"latency, 1 KiB request/response, {count} round trips x {env.args.rounds} rounds (us)",
                    "Method: `ugate-loadgen latency`: one connection (TCP_NODELAY), write 1 KiB, read the "
                    "1 KiB echo, repeat; after 100 warm-up round trips. HAProxy on its default copy "
                    "path. Figures are medians over rounds; 'added' is the median of per-round "
                    "differences against direct.",
                    ["contender", "p50 us", "p99 us", "p99 / p50", "added p50 us", "added p99 us"], raw=raw)
    for label in raw:
        report.rows.append([label, fmt(median_of(p50[label]), 1), fmt(median_of(p99[label]), 1),
                            fmt(ratio(p99[label], p50[label])),
                            fmt(diff(p50[label], p50.get("direct", [])), 1),
                            fmt(diff(p99[label], p99.get("direct", [])), 1)])
    for label in raw:
        if label.startswith("ugate"):
            report.check(f"{label} added p50 (us)", diff(p50[label], p50.get("direct", [])),
                         "<= 30 us", lambda v: v <= 30, digits=1)
            report.check(f"{label} p99 / p50", ratio(p99[label], p50[label]), "<= 2", lambda v: v <= 2)
    check_baseline(report, p50, higher_is_better=False)
    return report


# ---- doors: proxies whose clients name the destination ----------------------------------------

SNI = "bench.test"  # the name the throughput client's ClientHello carries, routed to the sink


@dataclass
class Door(Contender):
    """A contender the throughput client reaches with a preamble: none, socks5, connect or tls."""
    via: str = "none"


def need_tool(tool: str):
    if not shutil.which(tool):
        raise StartError(f"{tool} not installed (scripts/install-deps.sh installs it)")


def ugate_door(env: Env, protocol: str, via: str, admins: dict[str, int]) -> Door:
    """ugate with one worker and one `protocol` listener; its admin port goes into `admins`."""
    label = f"ugate {protocol}" + (f" ({via})" if protocol == "auto" else "")

    def start(procs: Processes, sink: int):
        listener = f"protocol: {protocol}"
        if via == "tls":
            listener += f"\n    routes: [ {{ sni: {SNI}, forward: '127.0.0.1:{sink}' }} ]"
        port, admins[label], proc = start_ugate(env, procs, label, 1, listener)
        return port, proc

    return Door(label, start, via)


# Configs of the tools, as str.format templates: {port} (theirs), {sink}, {dir} (their folder), {sni}.
DANTE_CONF = """\
logoutput: stderr
internal: 127.0.0.1 port = {port}
external: 127.0.0.1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}
socks pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }}
"""
# No ConnectPort lines: CONNECT may reach any port.
TINYPROXY_CONF = """\
User nobody
Group nogroup
Port {port}
Listen 127.0.0.1
Timeout 600
MaxClients 100
Allow 127.0.0.1
LogLevel Critical
"""
# Routed by req.ssl_sni once a whole ClientHello is in; spliced as in the iperf section.
HAPROXY_SNI_CONF = haproxy_head(1, splice=True) + """\
frontend sni
    bind 127.0.0.1:{port}
    tcp-request inspect-delay 5s
    tcp-request content accept if {{ req.ssl_hello_type 1 }}
    use_backend sink if {{ req.ssl_sni -i {sni} }}
backend sink
    server sink 127.0.0.1:{sink}
"""
# The stream module with ssl_preread; one worker (nginx has no splice path).
NGINX_SNI_CONF = """\
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
worker_processes 1;
error_log stderr;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
stream {{
    map $ssl_preread_server_name $upstream {{
        {sni} 127.0.0.1:{sink};
        default 127.0.0.1:1;
    }}
    server {{
        listen 127.0.0.1:{port};
        ssl_preread on;
        proxy_pass $upstream;
    }}
}}
"""


def tool_door(env: Env, label: str, via: str, argv: list[str], config: str = "", config_name: str = "") -> Door:
    """A tool we did not write, started with `argv` and, when given, a config file `config_name`
    written from the template `config`; {port}, {sink}, {dir}, {sni} and {config} (the file) are
    filled in both."""
    def start(procs: Processes, sink: int):
        need_tool(argv[0])
        port = free_port()
        name = f"{argv[0]}-{port}"
        folder = env.workdir / name
        folder.mkdir()
        fields = {"port": port, "sink": sink, "dir": folder, "sni": SNI, "config": folder / config_name}
        if config:
            (folder / config_name).write_text(config.format(**fields))
        proc = procs.start(name, [a.format(**fields) for a in argv])
        wait_listening(procs, name, proc, port)
        return port, proc

    return Door(label, start, via)


def peer_doors(env: Env) -> list[Door]:
    return [
        tool_door(env, "dante", "socks5", ["danted", "-f", "{config}", "-p", "{dir}/danted.pid"], DANTE_CONF,
                  "danted.conf"),
        tool_door(env, "microsocks", "socks5", ["microsocks", "-i", "127.0.0.1", "-p", "{port}"]),
        tool_door(env, "tinyproxy", "connect", ["tinyproxy", "-d", "-c", "{config}"], TINYPROXY_CONF,
                  "tinyproxy.conf"),
        tool_door(env, "haproxy nbthread 1 splice", "tls", ["haproxy", "-db", "-f", "{config}"], HAPROXY_SNI_CONF,
                  "haproxy.cfg"),
        tool_door(env, "nginx ssl_preread", "tls", ["nginx", "-p", "{dir}", "-c", "{config}"], NGINX_SNI_CONF,
                  "nginx.conf"),
    ]


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of the live processes in a process group (a proxy and its workers or
    children: dante and nginx are several processes)."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # from the state on: ppid, pgrp, ...
        except OSError:
            continue
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def spliced_share(admin: int) -> float | None:
    """Of the bytes ugate's `bench` listener moved, the share that went through splice(2)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        if line.startswith(("ugate_listener_spliced_bytes_total{", "ugate_listener_bytes_total{")):
            key, value = line.rsplit(" ", 1)
            values[key] = float(value)
    moved = sum(v for k, v in values.items() if k.startswith("ugate_listener_bytes_total"))
    spliced = values.get('ugate_listener_spliced_bytes_total{listener="bench"}', 0.0)
    return spliced / moved if moved else None


def section_doors(env: Env) -> Report:
    seconds = env.args.seconds
    admins: dict[str, int] = {}
    ours = [ugate_door(env, protocol, how, admins) for protocol, how in
            (("socks5", "socks5"), ("auto", "socks5"), ("http-proxy", "connect"), ("auto", "connect"),
             ("tls-sni", "tls"), ("auto", "tls"))]
    doors = [Door("direct", direct().start, "none")] + ours + peer_doors(env)
    order = ["none", "socks5", "connect", "tls"]
    doors.sort(key=lambda d: order.index(d.via))  # stable: by protocol, ugate first
    via = {d.label: d.via for d in doors}
    with Processes(env.workdir) as procs:
        sink = start_loadgen_server(env, procs, "sink")
        started: dict[str, subprocess.Popen | None] = {}
        ports = start_contenders(procs, doors, sink, started)
        targets = {label: (port, via[label], started[label]) for label, port in ports.items()}

        def measure(target) -> tuple[float, float | None]:
            """(Gbit/s, the proxy's CPU seconds per GB moved): the second holds up better than the
            first on a machine that other work shares."""
            port, how, proc = target
            cpu = group_cpu_seconds(proc.pid) if proc else 0.0
            out = run_loadgen(env, ["throughput", "--target", f"127.0.0.1:{port}", "--seconds", str(seconds),
                                    "--via", how, "--dest", f"127.0.0.1:{sink}", "--sni", SNI],
                              timeout=seconds + 20)
            cpu_per_gb = (group_cpu_seconds(proc.pid) - cpu) / (out["bytes"] / 1e9) if proc else None
            return out["gbit_per_s"], cpu_per_gb

        raw = run_rounds(env, targets, measure,
                         lambda v: f"{v[0]:.2f} Gbit/s" + (f", {v[1]:.3f} CPU s/GB" if v[1] is not None else ""))
        spliced = {label: spliced_share(admin) for label, admin in admins.items()}
    results = {label: [v and v[0] for v in values] for label, values in raw.items()}
    cpu = {label: [v and v[1] for v in values] for label, values in raw.items()}

    report = Report(f"doors: single-stream throughput, {seconds} s x {env.args.rounds} rounds (Gbit/s)",
                    "Method: `ugate-loadgen throughput` (the same client for every contender) connects to the "
                    "proxy, does its handshake (SOCKS5 CONNECT with an IPv4 address; HTTP `CONNECT`; or a "
                    f"ClientHello naming {SNI}, which the SNI proxies route to the sink and pass on), then counts "
                    "for S seconds from the first byte what `ugate-loadgen sink` streams back (256 KiB "
                    "writes; received bytes, so nothing buffered is counted). ugate: one worker, one "
                    "listener per door (`auto` too, reached by each protocol); dante `danted` and "
                    "microsocks with no authentication; tinyproxy; HAProxy `req.ssl_sni` with both splice "
                    "options; nginx `stream` with `ssl_preread`, one worker. 'CPU s/GB' is the proxy's "
                    "user + system time (its whole process group, /proc) per GB moved; 'spliced' is the "
                    "share of ugate's bytes that splice(2) moved. Ratios are medians of per-round ratios.",
                    ["contender", "via", "median Gbit/s", "per round", "vs direct", "CPU s/GB", "spliced"],
                    raw=raw)
    for label, values in results.items():
        share = spliced.get(label)
        report.rows.append([label, via[label], fmt(median_of(values)), " ".join(fmt(v, 1) for v in values),
                            fmt(ratio(values, results.get("direct", []))), fmt(median_of(cpu[label]), 3),
                            "" if label not in admins else fmt(share and 100 * share, 1) + " %"])
    dedicated = {"socks5": "ugate socks5", "connect": "ugate http-proxy", "tls": "ugate tls-sni"}
    for label in results:
        how = via[label]
        if label.startswith("ugate") or how == "none":
            continue
        ours = dedicated[how]
        if ours in results:
            report.check(f"{ours} / {label}", ratio(results[ours], results[label]), "> 1.0", lambda v: v > 1.0)
            report.check(f"{ours} / {label}, CPU per GB", ratio(cpu[ours], cpu[label]), "< 1.0",
                         lambda v: v < 1.0, digits=2)
    for label in results:
        if label.startswith("ugate auto") and dedicated[via[label]] in results:
            report.check(f"{label} / {dedicated[via[label]]}", ratio(results[label], results[dedicated[via[label]]]),
                         ">= 0.9 (sniffing costs nothing once spliced)", lambda v: v >= 0.9)
    for label, share in spliced.items():
        report.check(f"{label} bytes spliced", share, ">= 0.99", lambda v: v >= 0.99)
    return report


def run_loadgen(env: Env, argv: list[str], timeout: float) -> dict:
    try:
        done = subprocess.run([env.loadgen] + argv, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"ugate-loadgen {argv[0]} did not finish within {timeout:.0f} s")
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode().strip() or f"ugate-loadgen exited {done.returncode}")
    return json.loads(done.stdout)


# ---- main -------------------------------------------------------------------------------------

def find_loadgen(args, workdir: Path) -> str:
    """The CMake-built tool, or else a fresh standalone build (handy before the root CMake works)."""
    if args.loadgen:
        return args.loadgen
    built = ROOT / "build/release/bench/ugate-loadgen"
    if built.exists():
        return str(built)
    out = workdir / "ugate-loadgen"
    print(f"note: {built} not found; compiling bench/loadgen.cc with g++")
    subprocess.run(["g++", "-O2", "-std=c++20", str(ROOT / "bench/loadgen.cc"), "-o", str(out)], check=True)
    return str(out)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default=",".join(SECTIONS),
                   help="comma-separated sections, from " + ",".join(SECTIONS))
    p.add_argument("--rounds", type=int, default=3, help="rounds per section (contenders alternate in each)")
    p.add_argument("--seconds", type=int, default=5, help="length of one iperf3 or connrate run")
    p.add_argument("--concurrency", type=int, default=32, help="connections in flight for connrate")
    p.add_argument("--idle-connections", type=int, default=9000, help="connections held for the memory test")
    p.add_argument("--latency-count", type=int, default=20000, help="round trips per latency run")
    p.add_argument("--ugate", default=str(ROOT / "build/ugate"), help="ugate binary")
    p.add_argument("--ugate-baseline", help="an earlier ugate binary, run beside --ugate in the same rounds "
                   "(iperf, connrate, latency); each ratio ugate / baseline must stay >= 0.97")
    p.add_argument("--loadgen", help="ugate-loadgen binary (default: build/release/bench/ugate-loadgen)")
    p.add_argument("--markdown", type=Path, help="also write the report as markdown here")
    p.add_argument("--json", type=Path, help="also write the raw figures as JSON here")
    p.add_argument("--host-netns", action="store_true",
                   help="stay in the host's network namespace (default as root: a private one, see enter_private_netns)")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s) {', '.join(sorted(unknown))}")
    if args.rounds < 1 or args.seconds < 1:
        p.error("--rounds and --seconds must be >= 1")
    return args


def enter_private_netns() -> str:
    """Moves the harness (and so every contender it starts) into a fresh network namespace.

    In the host namespace the connection rate is capped by the kernel, not by any proxy: every
    closed connection leaves a TIME_WAIT entry for 60 s, and with the default 28k ephemeral ports
    connect() spends its time searching for a free one (measured: direct 14.0k conn/s, flat even
    with the CPUs busy; in a fresh namespace with ports 1024-65535, 21-24k/s). A private namespace
    starts with no TIME_WAIT left by earlier runs or other work, and its port range is widened.
    Everything the benchmark talks to is on loopback, so nothing else changes."""
    CLONE_NEWNET = 0x40000000
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return f"host namespace (unshare failed: {os.strerror(ctypes.get_errno())})"
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    Path("/proc/sys/net/ipv4/ip_local_port_range").write_text("1024 65535\n")
    return "a private network namespace (loopback; ephemeral ports 1024-65535)"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # Before any child starts: every contender inherits the namespace. Needs root (CAP_SYS_ADMIN).
    if args.host_netns or os.geteuid() != 0:
        netns = "host namespace"
    else:
        netns = enter_private_netns()
    # A SIGTERM to the harness unwinds like Ctrl-C, so the `finally`/`with` blocks stop every child.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    missing = [tool for tool in ("iperf3", "haproxy", "socat") if not shutil.which(tool)]
    if missing:
        print(f"error: missing peer tools: {', '.join(missing)} (apt-get install {' '.join(missing)})")
        return 1
    with tempfile.TemporaryDirectory(prefix="ugate-bench-") as tmp:
        workdir = Path(tmp)
        ugate_bin = args.ugate if os.access(args.ugate, os.X_OK) else None
        if ugate_bin:
            version = subprocess.run([ugate_bin, "--version"], capture_output=True, text=True, timeout=10)
            ugate_desc = f"{ugate_bin} ({version.stdout.strip() or 'version unknown'})"
        else:
            ugate_desc = "not found (skipped)"
            print(f"NOTE: ugate binary not found at {args.ugate} (build it with `make build`); "
                  "the ugate contenders are skipped.")
        env = Env(args, workdir, find_loadgen(args, workdir), ugate_bin, args.ugate_baseline)
        if args.ugate_baseline:
            version = subprocess.run([args.ugate_baseline, "--version"], capture_output=True, text=True, timeout=10)
            ugate_desc += f"; baseline: {args.ugate_baseline} ({version.stdout.strip() or 'version unknown'})"
        sections = {"iperf": section_iperf, "connrate": section_connrate,
                    "memory": section_memory, "latency": section_latency, "doors": section_doors}
        reports: dict[str, Report] = {}
        started = time.monotonic()
        for name in args.only:
            print(f"\n-- {name} --")
            env.busy.clear()
            reports[name] = sections[name](env)
            reports[name].busy = max(env.busy, default=None)
        elapsed = time.monotonic() - started

    header = (f"ugate bench, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
              f"{args.rounds} rounds, {elapsed:.0f} s, {netns}; ugate: {ugate_desc}")
    print("\n" + header + "\n\n" + "\n\n".join(r.text() for r in reports.values()))
    if args.markdown:
        args.markdown.write_text(f"_{header}_\n\n" + "\n\n".join(r.markdown() for r in reports.values()) + "\n")
        print(f"\nmarkdown written to {args.markdown}")
    if args.json:
        raw = {"header": header, "sections": {name: r.raw for name, r in reports.items()}}
        args.json.write_text(json.dumps(raw, indent=1))
        print(f"json written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

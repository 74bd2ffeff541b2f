#!/usr/bin/python3
"""The shared benchmark harness of bench.py, mesh_bench.py and webpush_bench.py: processes, contenders,
rounds, statistics and the report.

Every process started here runs in its own session and is stopped by its PID (process group) on
exit, even on errors or Ctrl-C. Ports are picked by binding port 0 on 127.0.0.1. All contenders of
a section are started once and take turns round by round (the order rotates every round); every
comparison is the median of per-round ratios. Standard library only; run with /usr/bin/python3.
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
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process (all its threads) has used so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class SyscallCount:
    """The system calls a process (every thread) makes while the `with` block runs, counted by the
    kernel's raw_syscalls:sys_enter tracepoint through `perf stat` (nothing runs in the process per
    call). `count` is None when perf cannot count (not root, no perf): the figure is then reported
    as not measured."""

    def __init__(self, pid: int):
        self.pid, self.count, self.proc = pid, None, None

    def __enter__(self):
        if shutil.which("perf"):
            self.proc = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p", str(self.pid)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(0.3)  # attached to every thread before the load starts
        return self

    def __exit__(self, *exc):
        if not self.proc:
            return False
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return False
        for line in err.splitlines():  # "12345,,raw_syscalls:sys_enter,..."
            fields = line.split(",")
            if len(fields) > 2 and fields[2] == "raw_syscalls:sys_enter" and fields[0].isdigit():
                self.count = int(fields[0])
        return False


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
    tune.pipesize 1048576
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


def run_loadgen(env: Env, argv: list[str], timeout: float) -> dict:
    try:
        done = subprocess.run([env.loadgen] + argv, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"ugate-loadgen {argv[0]} did not finish within {timeout:.0f} s")
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode().strip() or f"ugate-loadgen exited {done.returncode}")
    return json.loads(done.stdout)


def iperf3(procs: Processes, server_port: int, port: int, seconds: int, parallel: int = 1) -> float:
    """Gbit/s received by `iperf3 -c -t SECONDS -P PARALLEL` through 127.0.0.1:port to a fresh
    `iperf3 -s -1` on server_port: a fresh one-test server each time, so a contender that breaks a
    test cannot leave the server busy for the next one. RuntimeError when there is no figure."""
    server = procs.start("iperf3-server", ["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(server_port)])
    try:
        wait_listening(procs, "iperf3-server", server, server_port)
        cmd = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-P", str(parallel), "-J"]
        done = subprocess.run(cmd, capture_output=True, timeout=seconds + 30)
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
    # what, value, target, met (None: not measured; "reported": a figure with no target)
    checks: list[tuple[str, str, str, bool | str | None]] = field(default_factory=list)
    raw: dict = field(default_factory=dict)
    busy: float | None = None  # highest CPU use by other work seen during the section, percent

    def check(self, what: str, value: float | None, target: str, met, digits: int = 2):
        self.checks.append((what, fmt(value, digits), target, None if value is None else bool(met(value))))

    def reported(self, what: str, value: float | None, digits: int = 2):
        """A figure shown beside the checks that has no target of its own (never MET nor MISSED)."""
        self.checks.append((what, fmt(value, digits), "-", None if value is None else "reported"))

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


def verdict(met: bool | str | None) -> str:
    return {True: "MET", False: "MISSED", None: "not measured", "reported": "(reported)"}[met]


# ---- set-up and running a script ------------------------------------------------------------

def begin_run(args: argparse.Namespace, tools: tuple[str, ...]) -> str | None:
    """What a script does first: checks that `tools` are installed (None, having said which are not,
    when some are missing); as root without --host-netns, moves into a private network namespace
    (before any child starts: every contender inherits it; see enter_private_netns); and makes a
    SIGTERM unwind like Ctrl-C, so the `with` blocks stop every child. Returns the namespace's
    description, for the report's header."""
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        print(f"error: missing peer tools: {', '.join(missing)} (apt-get install {' '.join(missing)})")
        return None
    netns = "host namespace" if args.host_netns or os.geteuid() != 0 else enter_private_netns()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return netns


def described(binary: str) -> str:
    """`BINARY (what BINARY --version says)`, for a report's header."""
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    return f"{binary} ({version.stdout.strip() or 'version unknown'})"


def run_sections(env: Env, sections: dict[str, Callable[[Env], "Report"]]) -> tuple[dict[str, "Report"], float]:
    """Runs the sections that --only names, in its order: (name -> report, seconds taken). A report's
    `busy` is the most CPU other work took while its section ran (check_idle's samples)."""
    reports = {}
    started = time.monotonic()
    for name in env.args.only:
        print(f"\n-- {name} --")
        env.busy.clear()
        reports[name] = sections[name](env)
        reports[name].busy = max(env.busy, default=None)
    return reports, time.monotonic() - started


def publish(header: str, reports: dict[str, "Report"], markdown: Path | None, json_path: Path | None = None):
    """Prints the header and every report; writes them as markdown and the raw figures as JSON
    where asked."""
    print("\n" + header + "\n\n" + "\n\n".join(r.text() for r in reports.values()))
    if markdown:
        markdown.write_text(f"_{header}_\n\n" + "\n\n".join(r.markdown() for r in reports.values()) + "\n")
        print(f"\nmarkdown written to {markdown}")
    if json_path:
        json_path.write_text(json.dumps({"header": header, "sections": {n: r.raw for n, r in reports.items()}},
                                        indent=1))
        print(f"json written to {json_path}")


def find_loadgen(args, workdir: Path) -> str:
    """The CMake-built tool, or else a fresh standalone build (handy before the root CMake works)."""
    if args.loadgen:
        return args.loadgen
    built = ROOT / "build/release/bench/ugate-loadgen"
    if built.exists():
        return str(built)
    out = workdir / "ugate-loadgen"
    print(f"note: {built} not found; compiling bench/loadgen*.cc with g++")
    sources = [str(f) for f in sorted((ROOT / "bench").glob("loadgen*.cc"))]
    subprocess.run(["g++", "-O2", "-std=c++20", *sources, "-o", str(out)], check=True)
    return str(out)


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

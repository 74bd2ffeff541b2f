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

This file holds the sections and the command line; the harness they run on (processes, contenders,
rounds, statistics, the report) is bench/harness.py, shared with mesh_bench.py and webpush_bench.py,
and the doors section with its peers' configs is bench/doors.py.
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from doors import section_doors
from harness import (ROOT, Env, Processes, Report, StartError, SyscallCount, begin_run, best, check_baseline, check_idle,
                     cpu_seconds, described, diff, direct, find_loadgen, fmt, floor_relay, free_port, haproxy, iperf3,
                     median_of, open_fds, publish, ratio, read_line, rss_kib, run_loadgen, run_rounds, run_sections,
                     socat, start_contenders, start_echo, ugate, with_baseline)

SECTIONS = ("iperf", "connrate", "memory", "latency", "doors")


# ---- sections ---------------------------------------------------------------------------------

def section_iperf(env: Env) -> Report:
    seconds = env.args.seconds
    contenders = with_baseline(env, [direct(), ugate(env, 1), ugate(env, 2), ugate(env, 1, splice=False),
                                     ugate(env, 2, splice=False), haproxy(env, 1, splice=True),
                                     haproxy(env, 2, splice=True), socat()])
    with Processes(env.workdir) as procs:
        server_port = free_port()
        ports = start_contenders(procs, contenders, server_port)

        results = run_rounds(env, ports, lambda port: iperf3(procs, server_port, port, seconds),
                             lambda v: f"{v:.2f} Gbit/s")

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
        started: dict = {}
        ports = start_contenders(procs, contenders, start_echo(env, procs), started)
        pids = {ports[label]: proc.pid for label, proc in started.items() if proc and label in ports}

        def measure(port: int) -> dict:
            # The proxy's own CPU per connection: less noisy than the rate, which the client and the
            # echo server on the same two cores share.
            # Its system calls per connection: the floor relay must make the fewest.
            cpu_before = cpu_seconds(pids[port]) if port in pids else None
            with contextlib.ExitStack() as stack:
                calls = stack.enter_context(SyscallCount(pids[port])) if port in pids else None
                out = run_loadgen(env, ["connrate", "--target", f"127.0.0.1:{port}", "--seconds", str(seconds),
                                        "--concurrency", str(concurrency)], timeout=seconds + 20)
            if out["connections"] == 0:
                raise RuntimeError(f"no connection completed: {out['first_error']}")
            if cpu_before is not None:
                out["cpu_us"] = (cpu_seconds(pids[port]) - cpu_before) / out["connections"] * 1e6
            if calls and calls.count is not None:
                out["syscalls"] = calls.count / out["connections"]
            return out

        raw = run_rounds(env, ports, measure,
                         lambda v: f"{v['rate']:.0f} conn/s" + (f", {v['cpu_us']:.1f} us CPU/conn" if "cpu_us" in v else "")
                         + (f", {v['syscalls']:.1f} syscalls/conn" if "syscalls" in v else "")
                         + (f", {v['errors']} errors ({v['first_error']})" if v["errors"] else ""))
    results = {label: [v and v["rate"] for v in values] for label, values in raw.items()}
    cpu = {label: [v and v.get("cpu_us") for v in values] for label, values in raw.items()}
    calls = {label: median_of([v and v.get("syscalls") for v in values]) for label, values in raw.items()}
    errors = {label: sum(v["errors"] for v in values if v) for label, values in raw.items()}
    report = Report(f"new connections per second, {seconds} s x {env.args.rounds} rounds, "
                    f"{concurrency} in flight",
                    "Method: `ugate-loadgen connrate` (connect, write 1 byte, read the echo, close; "
                    f"{concurrency} connections in flight) against `ugate-loadgen echo`, directly or "
                    "through the contender (ugate splice path; HAProxy default copy path; the floor relay: "
                    "`ugate-loadgen relay`, only the system calls every TCP proxy must make). Client, echo "
                    "server and proxy share the machine's cores.",
                    ["contender", "median conn/s", "per round", "vs direct", "CPU us/conn", "syscalls/conn", "errors"],
                    raw=raw)
    for label, values in results.items():
        report.rows.append([label, fmt(median_of(values), 0), " ".join(fmt(v, 0) for v in values),
                            fmt(ratio(values, results.get("direct", []))), fmt(median_of(cpu[label]), 1),
                            fmt(calls[label], 1), errors[label]])
    top_haproxy, top_floor = best(results, "haproxy"), best(results, "floor")
    # The floor is a floor only if no contender makes fewer system calls per connection.
    floor_calls = [calls[label] for label in results if label.startswith("floor") and calls[label] is not None]
    proxy_calls = [calls[label] for label in results
                   if not label.startswith(("floor", "direct")) and calls[label] is not None]
    if floor_calls and proxy_calls:
        report.check("floor relay syscalls/conn - fewest of any proxy", max(floor_calls) - min(proxy_calls), "<= 0",
                     lambda v: v <= 0.05, digits=1)
    for label in results:
        if top_haproxy and label.startswith("ugate"):
            report.check(f"{label} / {top_haproxy}", ratio(results[label], results[top_haproxy]),
                         ">= 1.2", lambda v: v >= 1.2)
    # What any proxy could reach: a target above the floor's own ratio cannot be met by a proxy.
    for label in (top_floor, top_haproxy):
        if top_floor and label and label != top_floor:
            report.reported(f"{top_floor} / {label}", ratio(results[top_floor], results[label]))
    check_baseline(report, results)
    check_baseline(report, cpu, higher_is_better=False, note=" CPU per connection")
    for label in results:
        if top_floor and label.startswith("ugate"):
            report.reported(f"{label} / {top_floor}", ratio(results[label], results[top_floor]))
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
                                     haproxy(env, 1, splice=False), floor_relay(env, 1)])
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
                    "path; the floor relay (`ugate-loadgen relay`, one thread) is the least a proxy adds. "
                    "Figures are medians over rounds; 'added' is the median of per-round "
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
            floor = best(p50, "floor")
            if floor:
                added = [a - d if a is not None and d is not None else None for a, d in zip(p50[label], p50["direct"])]
                floor_added = [f - d if f is not None and d is not None else None
                               for f, d in zip(p50[floor], p50["direct"])]
                report.check(f"{label} added p50 / {floor}'s", ratio(added, floor_added), "<= 1.05",
                             lambda v: v <= 1.05)
    check_baseline(report, p50, higher_is_better=False)
    return report


# ---- main -------------------------------------------------------------------------------------

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


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    netns = begin_run(args, ("iperf3", "haproxy", "socat"))
    if netns is None:
        return 1
    with tempfile.TemporaryDirectory(prefix="ugate-bench-") as tmp:
        workdir = Path(tmp)
        ugate_bin = args.ugate if os.access(args.ugate, os.X_OK) else None
        if ugate_bin:
            ugate_desc = described(ugate_bin)
        else:
            ugate_desc = "not found (skipped)"
            print(f"NOTE: ugate binary not found at {args.ugate} (build it with `make build`); "
                  "the ugate contenders are skipped.")
        env = Env(args, workdir, find_loadgen(args, workdir), ugate_bin, args.ugate_baseline)
        if args.ugate_baseline:
            ugate_desc += "; baseline: " + described(args.ugate_baseline)
        reports, elapsed = run_sections(env, {"iperf": section_iperf, "connrate": section_connrate,
                                              "memory": section_memory, "latency": section_latency,
                                              "doors": section_doors})

    header = (f"ugate bench, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
              f"{args.rounds} rounds, {elapsed:.0f} s, {netns}; ugate: {ugate_desc}")
    publish(header, reports, args.markdown, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The doors section of bench.py: single-stream throughput through proxies whose clients name the
destination (SOCKS5, HTTP CONNECT, TLS by SNI), ugate's doors beside dante, microsocks, tinyproxy,
HAProxy req.ssl_sni and nginx ssl_preread, all driven by `ugate-loadgen throughput`."""

import os
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass

from harness import (Contender, Env, Processes, Report, StartError, direct, fmt, free_port, haproxy_head,
                     median_of, ratio, run_loadgen, run_rounds, start_contenders, start_loadgen_server, start_ugate,
                     wait_listening)

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


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a proxy and every process below it (dante and nginx are several
    processes; dante's children leave its process group, so a group's sum missed them), with the
    time of children already reaped (cutime, cstime)."""
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stats[int(entry)] = f.read().rsplit(")", 1)[1].split()  # from the state on: ppid, pgrp, ...
        except OSError:
            continue
    tree, grew = {pid}, True
    while grew:
        below = {p for p, fields in stats.items() if int(fields[1]) in tree} - tree
        tree |= below
        grew = bool(below)
    ticks = sum(sum(int(stats[p][i]) for i in (11, 12, 13, 14)) for p in tree if p in stats)
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
            cpu = tree_cpu_seconds(proc.pid) if proc else 0.0
            out = run_loadgen(env, ["throughput", "--target", f"127.0.0.1:{port}", "--seconds", str(seconds),
                                    "--via", how, "--dest", f"127.0.0.1:{sink}", "--sni", SNI],
                              timeout=seconds + 20)
            used = tree_cpu_seconds(proc.pid) - cpu if proc else 0.0
            # Under two clock ticks is below what /proc can tell apart: not measured, never a ratio's 0.
            cpu_per_gb = used / (out["bytes"] / 1e9) if used >= 2 / os.sysconf("SC_CLK_TCK") else None
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
                    "user + system time (it and every process below it, /proc) per GB moved; 'spliced' is the "
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

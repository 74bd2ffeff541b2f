#!/usr/bin/python3
"""Web Push benchmark: ugate beside npm web-push / http_ece, in one run.

Sections:
  crypto   RFC 8291 encryptions/s (fresh ECDH key per message, 100-octet text) and decryptions/s,
           one thread each: ugate-webpush-bench (C++, OpenSSL 3) and Node 20 with npm web-push 3.6.7
           (encrypt) and http_ece 1.2.0 (decrypt); they alternate round by round, and the ratio is
           the median of per-round ratios.
  latency  push-to-delivery latency through one ugate push service (HTTPS, long-poll), at a fixed
           rate: each message carries its send time; a long-poll receives, decrypts and acknowledges.

npm packages go into build/release/npm (as the integration tests do), never into the tree.
Standard library only (plus harness.py beside it); run with /usr/bin/python3. See bench/RESULTS.md.
"""
import argparse
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402  (the harness: processes, CPU check, statistics, report)

ROOT = Path(__file__).resolve().parent.parent
NPM_PACKAGES = ["web-push@3.6.7", "http_ece@1.2.0"]


def npm_modules(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "node_modules/web-push/package.json").exists():
            subprocess.run(["npm", "install", "--prefix", str(root), "--no-audit", "--no-fund", "--loglevel=error",
                            "--no-save"] + NPM_PACKAGES, check=True, capture_output=True, timeout=300)
    return root / "node_modules"


def run_json(argv, env=None, timeout=120) -> dict:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if r.returncode not in (0, 1) or not r.stdout.strip():
        raise RuntimeError(f"{argv[0]} failed ({r.returncode}): {r.stderr.strip()[-300:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def openssl_ecdh_per_s(seconds: int) -> float:
    """P-256 ECDH derivations per second as OpenSSL's own tool times them (`openssl speed ecdhp256`):
    the floor without ugate's wrappers around OpenSSL."""
    r = subprocess.run(["openssl", "speed", "-seconds", str(seconds), "-mr", "ecdhp256"],
                       capture_output=True, text=True, timeout=seconds + 60)
    for line in r.stdout.splitlines():  # +F5:<index>:<bits>:<ops per second>:<seconds per op>
        if line.startswith("+F5:") and line.split(":")[2] == "256":
            return float(line.split(":")[3])
    raise RuntimeError("openssl speed printed no ecdhp256 figure: " + (r.stderr.strip() or r.stdout.strip())[-300:])


def section_crypto(args, node_env) -> h.Report:
    results = {"ugate": [], "npm": [], "openssl": []}
    busy = []
    for r in range(args.rounds):
        busy.append(h.busy_cpu_percent(0.5))
        order = [("ugate", lambda: run_json([args.tool, "crypto", str(args.seconds)], env=node_env)),
                 ("npm", lambda: run_json(["node", str(ROOT / "bench/webpush_crypto.js"), str(args.seconds)],
                                          env=node_env)),
                 ("openssl", lambda: {"ecdh_per_s": openssl_ecdh_per_s(args.seconds)})]
        for name, run in (order if r % 2 == 0 else order[::-1]):
            results[name].append(run())
            print(f"  round {r + 1} {name}: {results[name][-1]}")
    report = h.Report(
        "Web Push crypto (RFC 8291 aes128gcm, 100-octet message, one thread)",
        f"{args.rounds} rounds of {args.seconds} s per operation; ugate-webpush-bench vs Node "
        f"{subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()} with npm "
        "web-push 3.6.7 encrypt() and http_ece 1.2.0 decrypt(); ratio = median of per-round ratios. "
        "P-256 floor: what each operation cannot skip, timed alone by ugate-webpush-bench through OpenSSL "
        "(a sender's fresh key pair and ECDH, a receiver's ECDH); beside it, in the same rounds, OpenSSL's "
        "own `openssl speed -seconds S ecdhp256` (one ECDH, as the receiver's floor), so that the floor is "
        "not bounded by how ugate calls OpenSSL.",
        ["operation", "ugate ops/s", "npm ops/s", "ugate / npm", "P-256 floor ops/s", "floor / npm"])
    for op, label in (("encrypt", "encrypt"), ("decrypt", "decrypt")):
        u = [x[f"{op}_per_s"] for x in results["ugate"]]
        n = [x[f"{op}_per_s"] for x in results["npm"]]
        floor = [x[f"{op}_floor_per_s"] for x in results["ugate"]]
        ratio, ceiling = h.ratio(u, n), h.ratio(floor, n)
        report.rows.append([label, h.fmt(h.median_of(u), 0), h.fmt(h.median_of(n), 0),
                            h.fmt(ratio), h.fmt(h.median_of(floor), 0), h.fmt(ceiling)])
        report.check(f"{label} ugate / npm", ratio, ">= 5x", lambda v: v >= 5)
        # The P-256 work alone (key pair and ECDH for a sender, ECDH for a receiver) is
        # the most any encryptor on OpenSSL can reach: the ratio no implementation passes.
        report.reported(f"{label} P-256 floor / npm", ceiling)
    ecdh_floor = [x["decrypt_floor_per_s"] for x in results["ugate"]]
    openssl_ecdh = [x["ecdh_per_s"] for x in results["openssl"]]
    report.rows.append(["ECDH (openssl speed ecdhp256)", "", "", "", h.fmt(h.median_of(openssl_ecdh), 0), ""])
    report.reported("decrypt P-256 floor (ugate's ECDH) / openssl speed ecdhp256", h.ratio(ecdh_floor, openssl_ecdh))
    report.raw = results
    report.busy = max(busy)
    return report


def section_latency(args, workdir: Path) -> h.Report:
    key, cert = workdir / "push.key", workdir / "push.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-subj", "/CN=localhost", "-days", "1",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True, timeout=30)
    port, admin = h.free_port(), h.free_port()
    config = workdir / "ugate.yaml"
    config.write_text(f"workers: 1\nstate_dir: {workdir}/state\nadmin: {{ address: 127.0.0.1:{admin} }}\n"
                      f"access_log: {{ path: off }}\nlog_level: warn\n"
                      f"listeners: [ {{ name: push, address: '127.0.0.1:{port}', protocol: webpush, "
                      f"tls: {{ cert: '{cert}', key: '{key}' }}, webpush: {{ max_pending: 100000 }} }} ]\n")
    rows, raw, busy = [], [], []
    with h.Processes(workdir) as procs:
        procs.start("ugate", [args.ugate, "--config", str(config)])
        if not h.readyz(admin, 10):
            raise RuntimeError("ugate did not become ready: " + procs.log_tail("ugate"))
        for r in range(args.rounds):
            busy.append(h.busy_cpu_percent(0.5))
            result = run_json([args.tool, "latency", f"https://localhost:{port}", str(cert), str(args.rate),
                               str(args.count)], timeout=args.count / args.rate + 120)
            print(f"  round {r + 1}: {result}")
            raw.append(result)
            rows.append([str(r + 1), str(result["received"]), f"{result['achieved_rate']:.0f}", h.fmt(result["p50_ms"]),
                         h.fmt(result["p99_ms"]), h.fmt(result["max_ms"]), str(result["late_sends"])])
    report = h.Report(
        f"Web Push push-to-delivery latency at {args.rate:.0f} msg/s through one gateway",
        f"{args.count} messages per round over 8 HTTPS connections (encrypt + POST /p/...), one long-poll "
        "receiving (decrypt) and 2 connections acknowledging (DELETE /m/...), all in ugate-webpush-bench; "
        "ugate with 1 worker, the push service on its control thread, SQLite store in a temp dir. "
        "Latency = receive time - send start, same clock. `msg/s sent` is the rate achieved; `late` counts sends that started over 1 ms after their slot.",
        ["round", "received", "msg/s sent", "p50 ms", "p99 ms", "max ms", "late"])
    med = lambda key: h.fmt(h.median_of([x[key] for x in raw]))
    report.rows = rows + [["median", "", "", med("p50_ms"), med("p99_ms"), med("max_ms"), ""]]
    report.raw = {"rounds": raw}
    report.busy = max(busy)
    return report


def main(argv) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default="crypto,latency")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=2, help="per crypto operation and round")
    p.add_argument("--rate", type=float, default=1000, help="messages per second for the latency run")
    p.add_argument("--count", type=int, default=10000, help="messages per latency round")
    p.add_argument("--ugate", default=str(ROOT / "build/ugate"))
    p.add_argument("--tool", default=str(ROOT / "build/release/bench/ugate-webpush-bench"))
    p.add_argument("--markdown", type=Path)
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    node_env = dict(os.environ, NODE_PATH=str(npm_modules(ROOT / "build/release/npm")))
    started = time.monotonic()
    reports = {}
    with tempfile.TemporaryDirectory(prefix="ugate-webpush-bench-") as tmp:
        for name in args.only.split(","):
            print(f"\n-- {name} --")
            reports[name] = section_crypto(args, node_env) if name == "crypto" else section_latency(args, Path(tmp))
    header = (f"ugate webpush bench, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
              f"{args.rounds} rounds, {time.monotonic() - started:.0f} s")
    h.publish(header, reports, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

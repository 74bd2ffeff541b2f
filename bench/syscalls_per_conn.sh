#!/bin/bash
# System calls per proxied connection of one running proxy, outside bench.py:
#   bench/syscalls_per_conn.sh PID PORT [SECONDS]
# counts every system call of process PID (all its threads; perf's
# raw_syscalls:sys_enter tracepoint) while `ugate-loadgen connrate` with 16
# connections in flight runs through 127.0.0.1:PORT for SECONDS (default 3),
# and prints the count divided by the connections made. Needs root and perf.
set -euo pipefail
pid=$1 port=$2 seconds=${3:-3}
loadgen=${LOADGEN:-$(dirname "$0")/../build/release/bench/ugate-loadgen}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
perf stat -x, -e raw_syscalls:sys_enter -p "$pid" 2>"$out" &
perf_pid=$!
sleep 0.5  # attached to every thread before the load starts
result=$("$loadgen" connrate --target "127.0.0.1:$port" --seconds "$seconds" --concurrency 16)
kill -INT "$perf_pid"
wait "$perf_pid" || true
calls=$(awk -F, '$3 == "raw_syscalls:sys_enter" {print $1}' "$out")
connections=$(sed -n 's/.*"connections":\([0-9]*\).*/\1/p' <<<"$result")
awk -v c="$calls" -v n="$connections" 'BEGIN { printf "%d connections, %.1f system calls per connection\n", n, c / n }'

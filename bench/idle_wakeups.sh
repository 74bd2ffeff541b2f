#!/bin/bash
# How often an idle ugate wakes up: every thread's count of times it was put
# on a CPU (/proc/PID/task/*/schedstat, third field) over SECONDS, and, where
# perf can trace, the sched:sched_switch events of the process over the same
# window. A thread blocked in epoll_wait/poll with no timer armed counts 0.
#
#   bench/idle_wakeups.sh [SECONDS] [-- UGATE ARGS...]
#
# Without UGATE ARGS the gateway runs its embedded default config (admin, the
# mesh ports, quic, the proxy doors, dns) on a free base port with a fresh
# state dir. UGATE_BIN names the binary (default build/release/apps/ugate/ugate).
# Prints one line per thread and a total per second; exits 1 if the gateway
# did not become ready.
set -euo pipefail

cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
[ "${1:-}" = "--" ] && shift
BIN=${UGATE_BIN:-build/release/apps/ugate/ugate}
dir=$(mktemp -d /tmp/ugate-idle-XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

args=("$@")
if [ ${#args[@]} -eq 0 ]; then
  base=$(/usr/bin/python3 -c 'import sys; sys.path.insert(0, "tests/integration"); import harness; print(harness.free_base_port())')
  args=(--base-port "$base")
fi
"$BIN" --state-dir "$dir/state" --ports-file "$dir/ports.json" --log-level warn "${args[@]}" 2>"$dir/log" &
pid=$!
for _ in $(seq 1 300); do  # ready within 30 s
  [ -s "$dir/ports.json" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/log"; exit 1; }
  sleep 0.1
done
[ -s "$dir/ports.json" ] || { echo "ugate did not become ready"; cat "$dir/log"; exit 1; }
sleep 3  # what start-up left (the first announce, a flush) is over

snapshot() {
  for t in /proc/"$pid"/task/*; do
    printf '%s %s %s\n' "${t##*/}" "$(tr ' ' '_' <"$t/comm")" "$(cut -d' ' -f3 "$t/schedstat")"
  done | sort
}
before=$(snapshot)
perf_out="$dir/perf.txt"
if perf stat -x, -e sched:sched_switch -p "$pid" -- sleep "$SECS" 2>"$perf_out" >/dev/null; then
  switches=$(grep sched_switch "$perf_out" | cut -d, -f1)
else
  sleep "$SECS"
  switches="n/a ($(head -1 "$perf_out"))"
fi
after=$(snapshot)

echo "ugate idle for ${SECS}s: $("$BIN" --version), ${#args[@]} extra argument(s): ${args[*]}"
join <(echo "$before") <(echo "$after") | awk -v secs="$SECS" '
  { d = $5 - $3; total += d; printf "  thread %-8s %-16s %6d wakeups\n", $1, $2, d }
  END { printf "total: %d wakeups in %d s = %.2f per second\n", total, secs, total / secs }'
echo "perf sched:sched_switch: $switches"

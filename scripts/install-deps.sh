#!/usr/bin/env bash
# Installs ugate's build stack (DESIGN.md) and the real peers its tests and
# benchmarks run against. Idempotent: only missing packages are installed.
# Debian 12 only; apt-get only; never asks a question.
set -euo pipefail

build_stack=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libssl-dev libnghttp2-dev
  libngtcp2-dev libngtcp2-crypto-gnutls-dev libnghttp3-dev libgnutls28-dev
  libnice-dev libusrsctp-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
)
# Peers the tests and benchmarks start (tools we did not write).
peers=(
  python3 curl openssl iproute2 procps psmisc iperf3 haproxy socat ncat iptables python3-h2
  nodejs npm   # npm web-push / http_ece (Web Push interop), installed by the tests into the build dir
  dante-server microsocks tinyproxy nginx libnginx-mod-stream   # bench.py --only doors
  stunnel4 openssh-server openssh-client   # bench/mesh_bench.py: stunnel4 beside HBONE, ssh -R beside reverse accept
  chromium   # the status page in a headless browser (npm playwright-core, installed by the test)
  systemd    # systemd-analyze verify of deploy/systemd/ugate.service
  testssl.sh # scans the TLS listeners, offline (tests/integration/test_testssl.py, docs/security/)
  util-linux   # setpriv: a Unix-socket client run as another user (test_unix_sockets)
  coturn     # turnutils_stunclient against the STUN listener (test_stun.py)
  bind9-dnsutils dnsmasq-base   # dig against the DNS listener, dnsmasq as its upstream (test_dns.py)
  ngtcp2-client ngtcp2-server   # gtlsclient / gtlsserver against the quic listener and ugate probe (test_quic.py)
  linux-perf   # perf stat: system calls per connection in bench.py connrate and bench/syscalls_per_conn.sh
)

# Packages a command on PATH already stands for. Node.js from NodeSource ships
# npm inside its nodejs package and conflicts with Debian's npm: asking apt for
# npm there would swap the machine's Node for Debian's.
declare -A satisfied_by=([nodejs]=node [npm]=npm)

missing=()
for p in "${build_stack[@]}" "${peers[@]}"; do
  if [ -n "${satisfied_by[$p]:-}" ] && command -v "${satisfied_by[$p]}" >/dev/null; then
    continue
  fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

"""Starts the real ugate binary for integration tests, plus small peers.

Everything listens on 127.0.0.1 with ports the kernel picked, and every
process a test starts is stopped by the test (or by Ugate.__exit__).
"""
import atexit
import fcntl
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

UGATE = os.environ.get("UGATE_BIN", os.path.join(os.path.dirname(__file__), "../../build/ugate"))


def _sanitized():
    try:
        return "libasan" in subprocess.run(["ldd", UGATE], capture_output=True, text=True).stdout
    except OSError:
        return False


# The binary under test was built with AddressSanitizer: memory figures (RSS) mean nothing then.
SANITIZED = _sanitized()


# Ports: a ugate listener takes port 0 (`address: 127.0.0.1:0`) and the test reads the kernel's choice
# with Ugate.port(name); peers the tests start bind port 0 too. No port is found free, released, then
# bound: in between another test (ctest -j) could take it, and ugate's listeners use SO_REUSEPORT, so
# two processes given one port would share its connections without an error. Where a number must be
# known before anything listens on it, a socket of the test holds the port: closed_port, kept_port.
# The one exception is free_base_port (--base-port itself under test).


def _bound(host, reuse_addr=False, kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind)
    if reuse_addr:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    return s


def closed_port(cleanup, host="127.0.0.1", udp=False):
    """A port where nothing listens, for as long as the test runs, held by a socket that `cleanup`
    (self.addCleanup) closes: a TCP socket bound to it and never listen()ed, so connects are refused;
    or (udp) a UDP socket bound to it and connected to itself, so datagrams from anyone else find no
    socket and get ICMP port unreachable. The kernel gives the port to no one else meanwhile (a port
    found free and released could be listened on by then)."""
    s = _bound(host, kind=socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    if udp:
        s.connect(s.getsockname())
    cleanup(s.close)
    return s.getsockname()[1]


def kept_port(cleanup, host="127.0.0.1"):
    """A TCP port for a ugate listener whose number must be known before that ugate starts, or stay
    the same across its restarts (a config or a client's saved state names it). Bound with
    SO_REUSEADDR and never listen()ed, kept until `cleanup` (self.addCleanup, cls.addClassCleanup):
    ugate's listening sockets also set SO_REUSEADDR, and Linux lets them bind beside a socket that
    does not listen, while a bind to port 0 or a connect() elsewhere never gets the port. Between
    ugate's runs connects are refused."""
    s = _bound(host, reuse_addr=True)
    cleanup(s.close)
    return s.getsockname()[1]


def listening_port(proc, what="peer"):
    """The TCP port a peer process (a Popen told to listen on port 0) listens on, once it does: the
    kernel's answer from /proc (its sockets' inodes, found LISTEN in its network namespace's table),
    so nothing is parsed from the peer's output and no connection is used up to probe it."""
    def port():
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited {proc.returncode} before listening")
        try:
            fds = os.listdir(f"/proc/{proc.pid}/fd")
            inodes = set()
            for fd in fds:
                try:
                    link = os.readlink(f"/proc/{proc.pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[len("socket:["):-1])
            for table in ("tcp", "tcp6"):
                with open(f"/proc/{proc.pid}/net/{table}") as f:
                    for line in f.readlines()[1:]:
                        fields = line.split()
                        if fields[3] == "0A" and fields[9] in inodes:  # 0A: TCP_LISTEN
                            return int(fields[1].rsplit(":", 1)[1], 16)
        except FileNotFoundError:  # it just exited: poll() says so next time
            pass
        return None

    return wait_until(port, what=f"{what} listening")


def free_base_port(offsets=(0, 1, 2, 5, 6, 8, 9, 53), udp_offsets=(7, 53)):
    """A base port whose BASE+N (the embedded default's ports, TCP and UDP) are all free on
    every address. Taken below the ephemeral range, where busy machines keep
    thousands of client ports that a random BASE+N would collide with. Found
    free and released (the one exception to port 0): --base-port is the feature
    under test, and below the ephemeral range neither port 0 nor connect() hands
    these out, so only another explicit bind could take one meanwhile."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32000)
        socks = []
        try:
            for off in offsets:
                s = socket.socket()
                socks.append(s)
                s.bind(("0.0.0.0", base + off))
            for off in udp_offsets:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("0.0.0.0", base + off))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free base port found")


def npm_modules(*packages):
    """node_modules holding `packages` ("name@version"), each installed once into UGATE_NPM_DIR (the
    build dir), never into the repository; under a lock, as ctest -j runs tests side by side."""
    base = os.environ.get("UGATE_NPM_DIR") or os.path.join(tempfile.gettempdir(), f"ugate-npm-{os.getuid()}")
    # A prefix per set: `npm install --no-save` prunes what an earlier --no-save install put beside it.
    root = os.path.join(base, "+".join(sorted(packages)).replace("/", "_"))
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all(os.path.exists(os.path.join(root, "node_modules", p.rsplit("@", 1)[0], "package.json"))
                   for p in packages):
            subprocess.run(["npm", "install", "--prefix", root, "--no-audit", "--no-fund", "--loglevel=error",
                            "--no-save"] + list(packages), check=True, capture_output=True, timeout=240)
    return os.path.join(root, "node_modules")


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")



def temp_dir(prefix):
    """A fresh directory, removed with its contents when this test process exits (ctest runs each
    class in a process of its own), so that tests can still read it after their gate stopped."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


class Ugate:
    """One ugate process on a config written to a temp dir.

    `listeners` is the YAML of the listeners list; the admin port is picked here.
    """

    def __init__(self, listeners_yaml="[]", extra_yaml="", args=(), workers=2, access_log_format="text"):
        self.dir = temp_dir("ugate-it-")
        self.admin_port = None  # the kernel's choice, learnt from --ports-file at each start
        self.ports_file = os.path.join(self.dir, "ports.json")
        self.bound = {}  # listener name -> (host, port), from the same file
        self.access_log = os.path.join(self.dir, "access.log")
        self.config = os.path.join(self.dir, "ugate.yaml")
        with open(self.config, "w") as f:
            f.write(f"workers: {workers}\n"
                    f"state_dir: {self.dir}/state\n"
                    f"admin: {{ address: '127.0.0.1:0' }}\n"
                    f"access_log: {{ path: {self.access_log}, format: {access_log_format} }}\n"
                    f"{extra_yaml}\n"
                    f"listeners: {listeners_yaml}\n")
        self.args = list(args)
        self.proc = None
        self.stderr_path = os.path.join(self.dir, "stderr.log")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()

    def command(self):
        return [UGATE, "--config", self.config, "--ports-file", self.ports_file] + self.args

    def start(self):
        self.stderr = open(self.stderr_path, "w")
        if os.path.exists(self.ports_file):
            os.unlink(self.ports_file)  # a restart binds anew
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=self.stderr)
        try:
            wait_until(lambda: self.proc.poll() is not None or os.path.exists(self.ports_file), what="--ports-file")
            if self.proc.poll() is None:
                self.read_ports()
            wait_until(lambda: self.proc.poll() is not None or self.ready(), what="ugate /readyz")
        except AssertionError:
            raise AssertionError("ugate did not become ready:\n" + self.log())
        if self.proc.poll() is not None:
            raise AssertionError(f"ugate exited {self.proc.returncode}:\n" + self.log())

    def read_ports(self):
        with open(self.ports_file) as f:
            ports = json.load(f)
        self.admin_port = int(ports["admin"].rsplit(":", 1)[1])
        # A Unix socket listener's address is its path ("unix:/run/x.sock"), with no port.
        self.bound = {l["name"]: (l["address"], None) if l["address"].startswith("unix:")
                      else (l["address"].rsplit(":", 1)[0].strip("[]"), int(l["address"].rsplit(":", 1)[1]))
                      for l in ports["listeners"]}

    def port(self, listener):
        """The port a listener got (port 0 in its address: the kernel's choice)."""
        return self.bound[listener][1]

    def log(self):
        with open(self.stderr_path) as f:
            return f.read()

    def access_lines(self):
        if not os.path.exists(self.access_log):
            return []
        with open(self.access_log) as f:
            return [l for l in f.read().splitlines() if l]

    def get(self, path):
        """(status, body) of an admin request."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def ready(self):
        try:
            return self.get("/readyz")[0] == 200
        except OSError:
            return False

    def metrics(self):
        """{'name{labels}': value} from /metrics."""
        out = {}
        for line in self.get("/metrics")[1].splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                out[key] = float(value)
        return out

    def metric(self, name, **labels):
        key = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
        return self.metrics().get(key, 0.0)

    def rss(self):
        """Resident memory of the process, in bytes."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self, sig=signal.SIGTERM, timeout=20):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)


class Server:
    """A TCP server on 127.0.0.1 (or on `sock`, bound and listening) that runs
    handler(conn) in a thread per connection."""

    def __init__(self, handler, backlog=128, sock=None):
        self.sock = sock or socket.socket()
        if not sock:
            self.sock.bind(("127.0.0.1", 0))
            self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.errors = []
        self.threads = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _run(self, conn):
        try:
            with conn:
                self.handler(conn)
        except Exception as e:  # reported by the test through self.errors
            self.errors.append(e)

    def close(self):
        self.sock.close()


class RandomStream:
    """Deterministic pseudo-random bytes in chunks, with a running SHA-256."""

    def __init__(self, seed, total, chunk=1 << 20):
        self.rng = random.Random(seed)
        self.left = total
        self.chunk = chunk
        self.sha = hashlib.sha256()

    def __iter__(self):
        while self.left > 0:
            n = min(self.chunk, self.left)
            data = self.rng.randbytes(n)
            self.sha.update(data)
            self.left -= n
            yield data


def send_stream(sock, stream, then_shutdown=True):
    for chunk in stream:
        sock.sendall(chunk)
    if then_shutdown:
        sock.shutdown(socket.SHUT_WR)


def recv_digest(sock):
    """(byte count, sha256 hex) of everything until EOF."""
    sha, n = hashlib.sha256(), 0
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return n, sha.hexdigest()
        sha.update(data)
        n += len(data)


def echo(conn):
    """Server handler: sends every byte back until EOF."""
    while data := conn.recv(65536):
        conn.sendall(data)


def both_ways_server(total, seed):
    """Handler: sends `total` seeded bytes while hashing what it receives."""
    results = {}

    def handler(conn):
        out = RandomStream(seed, total)
        sender = threading.Thread(target=send_stream, args=(conn, out))
        sender.start()
        results["received"] = recv_digest(conn)
        sender.join()
        results["sent"] = out.sha.hexdigest()

    return handler, results


def both_ways_client(sock, total, seed):
    """The client of both_ways_server: sends `total` seeded bytes (then EOF) while reading to EOF;
    (sha of what went, (count, sha) of what came)."""
    up = RandomStream(seed, total)
    sender = threading.Thread(target=send_stream, args=(sock, up))
    sender.start()
    got = recv_digest(sock)
    sender.join()
    return up.sha.hexdigest(), got


def recv_all(sock):
    out = b""
    while True:
        data = sock.recv(65536)
        if not data:
            return out
        out += data


def access_fields(ug, predicate):
    """The text access-log lines of `ug` as {key: value}, those that `predicate` accepts."""
    out = []
    for line in ug.access_lines():
        fields = dict(kv.split("=", 1) for kv in line.split()[1:])
        if predicate(fields):
            out.append(fields)
    return out


def tcp_listener_yaml(name, port, forward, **opts):
    extra = "".join(f", {k}: {v}" for k, v in opts.items())
    return f"{{ name: {name}, address: '127.0.0.1:{port}', protocol: tcp, forward: '{forward}'{extra} }}"


class HttpOrigin:
    """An HTTP/1.1 origin (keep-alive) in a thread: GET /PATH answers "origin <port> GET /PATH", plus
    `size=N` query bytes of filler; POST answers with the body's length and SHA-256. Every request
    lands in `requests` as (method, path, headers, client port): one port for requests that came over
    one connection."""

    def __init__(self, host="127.0.0.1"):
        import http.server
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, body):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                origin.requests.append((self.command, self.path, dict(self.headers), self.client_address[1]))
                size = int(self.path.split("size=")[1]) if "size=" in self.path else 0
                self.reply(f"origin {origin.port} GET {self.path}\n".encode() + b"x" * size)

            def do_POST(self):
                origin.requests.append((self.command, self.path, dict(self.headers), self.client_address[1]))
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = b""
                    while True:
                        n = int(self.rfile.readline().split(b";")[0], 16)
                        if n == 0:  # then trailer lines up to a blank one
                            while self.rfile.readline() not in (b"\r\n", b""):
                                pass
                            break
                        body += self.rfile.read(n + 2)[:n]
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.reply(f"posted {len(body)} {hashlib.sha256(body).hexdigest()}\n".encode())

        class Server(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            daemon_threads = True

        self.requests = []
        self.httpd = Server((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class UdpEcho:
    """A UDP echo server on 127.0.0.1 in a thread: sends every datagram back, prefixed with b"echo:"."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(65535)
                self.sock.sendto(b"echo:" + data, peer)
            except OSError:
                return

    def close(self):
        self.sock.close()


def curl(*args, timeout=20):
    """Runs curl; returns (exit code, stdout bytes, stderr text)."""
    r = subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")

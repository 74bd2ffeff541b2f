"""The README's recipes, run as written.

Each recipe's files and commands are read from README.md, from the fenced block after a marker:
`<!-- recipe: NAME file FILE [on HOST] -->` is written to FILE in HOST's directory, and
`<!-- recipe: NAME commands [on HOST] -->` runs there, with `sh -e`; a line that ends in `&` starts
a background process, and the test waits until it serves before it goes on, as a reader would. So
what the README says is what is tested. What the test changes, and only that:

- `ugate` is the binary under test (UGATE_BIN), first on PATH. UGATE_STATE_DIR and HOME are temp
  dirs of each host: never /var/lib/ugate, no ~/.curlrc.
- Host names and ports: a recipe runs either in network namespaces the test creates, where its
  commands run unchanged and /etc/hosts maps its host names to the test's servers, or on the
  host's loopback, where its class says what it rewrites.
- A step that is not a command (copying a file to another machine, `groupadd`) is done by the
  test, as its class says.

Every server and process is on loopback or in the test's namespaces, and stopped by the test.
"""
import http.server
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest
import urllib.request

from harness import UGATE, free_base_port, wait_until
from netns import Netns, add_addr, link, needs_netns

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")
MARK = re.compile(r"^<!-- recipe: (?P<name>[\w-]+) (?:(?P<commands>commands)|file (?P<file>\S+))"
                  r"(?: on (?P<host>[\w-]+))? -->\n```\w*\n(?P<text>.*?)^```$", re.M | re.S)
BACKGROUND = re.compile(r"^(?P<cmd>.*?)\s+&\s*(?:#.*)?$")


def recipe(name):
    """The marked blocks of one recipe, in the README's order: [(kind, file, host, text)]."""
    with open(README) as f:
        readme = f.read()
    blocks = [("commands" if m["commands"] else "file", m["file"], m["host"], m["text"])
              for m in MARK.finditer(readme) if m["name"] == name]
    if not blocks:
        raise AssertionError(f"README.md has no blocks of recipe {name!r}")
    return blocks


def logical_lines(text):
    """Lines of a shell block, with backslash continuations joined."""
    out, pending = [], ""
    for line in text.splitlines():
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


def make_cert(directory, name):
    """A self-signed P-256 certificate for `name` (and 127.0.0.1): (cert, key)."""
    cert, key = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-subj", f"/CN={name}", "-days", "1",
                    "-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    return cert, key


class Page:
    """An HTTP origin answering every GET with `body`, on (addr, port); `tls` = (cert, key) for
    HTTPS. Requests are recorded as (path, client address)."""

    def __init__(self, body, addr="127.0.0.1", port=0, tls=None):
        page = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                page.requests.append((self.path, self.client_address[0]))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

        self.requests = []
        self.httpd = Server((addr, port), Handler)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Host:
    """One machine of a recipe: a directory the commands run in, their environment, and optionally
    a network namespace they run in (`ip netns exec`, so /etc/netns/NS/* files are mounted over
    /etc). Background processes are stopped at cleanup."""

    def __init__(self, test, name, ns=None, env=None):
        self.name, self.ns = name, ns
        self.dir = tempfile.mkdtemp(prefix=f"ugate-recipe-{name}-")
        test.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        bindir = os.path.join(self.dir, ".bin")
        os.makedirs(bindir)
        os.symlink(os.path.abspath(UGATE), os.path.join(bindir, "ugate"))
        self.state = os.path.join(self.dir, ".state")
        self.env = {"PATH": f"{bindir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOME": self.dir, "LANG": "C.UTF-8", "UGATE_STATE_DIR": self.state}
        self.env.update({k: v for k, v in os.environ.items() if k.split("_")[0] in ("ASAN", "UBSAN", "LSAN")})
        self.env.update(env or {})
        self.procs = []
        test.addCleanup(self.stop)

    def prefix(self):
        return ["ip", "netns", "exec", self.ns.name] if self.ns else []

    def call(self, fn):
        """fn() with its sockets in this host's network."""
        return self.ns.call(fn) if self.ns else fn()

    def write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def path(self, name):
        return os.path.join(self.dir, name)

    def sh(self, script):
        """Runs a script with sh -e; its stdout (a failure says which commands, and their stderr)."""
        p = subprocess.Popen(self.prefix() + ["sh", "-ec", script], cwd=self.dir, env=self.env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)  # the script's commands too, not only its shell
            out, err = p.communicate()
            raise AssertionError(f"on {self.name}, not done after 60 s:\n{script}\nstdout: {out}\nstderr: {err}")
        if p.returncode != 0:
            raise AssertionError(f"on {self.name}, exit {p.returncode}:\n{script}\nstdout: {out}\nstderr: {err}")
        return out

    def start(self, cmd):
        """A background command (its `&` taken off): the process, whose output goes to files."""
        n = len(self.procs)
        out, err = open(self.path(f".bg{n}.out"), "w"), open(self.path(f".bg{n}.err"), "w")
        # exec: the process is the command itself (ip netns exec and setpriv exec too), so it can be signalled.
        p = subprocess.Popen(self.prefix() + ["sh", "-c", "exec " + cmd], cwd=self.dir, env=self.env, stdout=out,
                             stderr=err)
        out.close()
        err.close()
        p.cmd, p.out, p.err = cmd, self.path(f".bg{n}.out"), self.path(f".bg{n}.err")
        self.procs.append(p)
        return p

    def run(self, text, ready, transform=lambda line: line):
        """Runs a commands block: the lines up to a background command as one script, the
        background command, ready(process) (waits until it serves), and on. All scripts' stdout."""
        out, script = "", []
        for line in map(transform, logical_lines(text)):
            m = BACKGROUND.match(line)
            if not m:
                script.append(line)
                continue
            if script:
                out += self.sh("\n".join(script))
                script = []
            ready(self.start(m["cmd"]))
        if script:
            out += self.sh("\n".join(script))
        return out

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def output(proc):
    with open(proc.out) as f:
        return f.read()


def errors(proc):
    with open(proc.err) as f:
        return f.read()


def access_lines(proc):
    """The text access-log lines a ugate wrote to its stdout, as {key: value}."""
    return [dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
            for line in output(proc).splitlines() if " listener=" in line]


def serving(host, proc, probe, what):
    """Waits until probe() (run in the host's network) is true; fails at once if proc exited."""
    def check():
        if proc.poll() is not None:
            raise AssertionError(f"{what} ({proc.cmd}) exited {proc.returncode}:\n{errors(proc)}")
        return host.call(probe)
    wait_until(check, timeout=30, what=what)


def admin_ready(port):
    def probe():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False
    return probe


def accepts(addr, port):
    def probe():
        try:
            socket.create_connection((addr, port), timeout=2).close()
            return True
        except OSError:
            return False
    return probe


def etc_file(test, ns, name, text):
    """/etc/NAME as processes started by `ip netns exec` in ns see it: /etc/netns/NS/NAME, deleted
    at cleanup (and /etc/netns with it once empty)."""
    d = f"/etc/netns/{ns.name}"

    def remove():
        shutil.rmtree(d, ignore_errors=True)
        try:
            os.rmdir("/etc/netns")
        except OSError:  # another test's files are in it, or another test removed it
            pass

    test.addCleanup(remove)
    for _ in range(10):  # another test may remove an empty /etc/netns between our mkdir and write
        os.makedirs(d, exist_ok=True)
        try:
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
            return
        except FileNotFoundError:
            continue
    raise AssertionError(f"cannot write {d}/{name}")


def hosts_file(test, ns, names):
    """An /etc/hosts for ns: localhost, and {name: address}."""
    etc_file(test, ns, "hosts", "127.0.0.1 localhost\n::1 localhost\n" +
             "".join(f"{addr} {name}\n" for name, addr in names.items()))


def write_files(blocks, hosts):
    """Writes the recipe's files into their hosts' directories."""
    for kind, name, host, text in blocks:
        if kind == "file":
            hosts[host].write(name, text)


def commands(blocks):
    """The recipe's command blocks, in order: [(host, text)]."""
    return [(host, text) for kind, _, host, text in blocks if kind == "commands"]


def ready_in(host, admin_port=15000):
    """ready() for Host.run: a ugate serves once its /readyz answers 200, `python3 -m http.server
    PORT` once PORT accepts."""
    def ready(proc):
        if m := re.search(r"http\.server (\d+)", proc.cmd):
            serving(host, proc, accepts("127.0.0.1", int(m[1])), f"{proc.cmd} listening")
        elif "ugate" in proc.cmd:
            serving(host, proc, admin_ready(admin_port), f"ugate on {host.name} ready")
        else:
            raise AssertionError(f"no way to tell when {proc.cmd!r} is ready")
    return ready


class LaptopProxy(unittest.TestCase):
    """On the host's loopback (no namespace, so no root needed), with these rewrites: `ugate` gets
    `--base-port` (a free base, harness.free_base_port) and each port 150NN in the commands becomes
    BASE+NN; https://example.com/ becomes a local HTTPS origin, https://localhost:PORT/, which curl
    trusts through CURL_CA_BUNDLE."""

    def test_both_doors_fetch_the_page_and_log_it(self):
        blocks = recipe("laptop-proxy")
        certs = tempfile.mkdtemp(prefix="ugate-recipe-certs-")
        self.addCleanup(shutil.rmtree, certs, ignore_errors=True)
        cert, key = make_cert(certs, "localhost")
        origin = Page(b"the page\n", tls=(cert, key))
        self.addCleanup(origin.close)
        base = free_base_port((0, 2, 5))
        laptop = Host(self, "laptop", env={"CURL_CA_BUNDLE": cert})
        write_files(blocks, {None: laptop})

        def local(line):
            line = re.sub(r"^ugate ", f"ugate --base-port {base} ", line)
            line = re.sub(r"\b150(0\d)\b", lambda m: str(base + int(m[1])), line)
            return line.replace("https://example.com/", f"https://localhost:{origin.port}/")

        [(_, text)] = commands(blocks)
        out = laptop.run(text, ready_in(laptop, base), local)
        [ugate] = laptop.procs
        curls = [line for line in logical_lines(text) if line.startswith("curl ")]
        self.assertEqual(len(curls), 2, curls)
        self.assertEqual(out, "the page\n" * len(curls))
        # Both went through ugate, one door each, to the name the client gave.
        wait_until(lambda: len(access_lines(ugate)) == 2, what="two access-log lines")
        self.assertEqual(sorted((f["listener"], f["dst"], f["result"]) for f in access_lines(ugate)),
                         [("http-proxy", f"localhost:{origin.port}", "done"),
                          ("socks5", f"localhost:{origin.port}", "done")])
        self.assertEqual(len(origin.requests), 2)


def registered(out):
    """The node names in /debug/nodes' `registered`, from the README's curl of it."""
    return [r["name"] for r in json.loads(out)["registered"]]


@needs_netns
class GatewayAndNodeBehindNat(unittest.TestCase):
    """The gateway in a public network; the node in a private one behind a NAT namespace
    (MASQUERADE, new inbound connections dropped); a client in a third network. gw.example.com is
    the gateway's address in each. The test copies home.token and the gateway's root-cert.pem to
    the node, as the README asks the reader to."""

    def setUp(self):
        self.g, self.nat, self.b, self.c = (Netns("rn" + x) for x in "gnbc")
        self.addCleanup(lambda: [ns.delete() for ns in (self.g, self.nat, self.b, self.c)])
        link(self.g, "g0", self.nat, "n0")   # public: 10.83.1.0/24
        link(self.nat, "n1", self.b, "b0")   # private: 192.168.83.0/24
        link(self.c, "c0", self.g, "g1")     # the client's: 10.83.2.0/24
        for ns, dev, cidr in ((self.g, "g0", "10.83.1.1/24"), (self.nat, "n0", "10.83.1.2/24"),
                              (self.nat, "n1", "192.168.83.1/24"), (self.b, "b0", "192.168.83.2/24"),
                              (self.g, "g1", "10.83.2.1/24"), (self.c, "c0", "10.83.2.2/24")):
            add_addr(ns, dev, cidr)
        self.b.run("ip", "route", "add", "default", "via", "192.168.83.1")
        self.nat.run("ip", "route", "add", "default", "via", "10.83.1.1")
        self.c.run("ip", "route", "add", "default", "via", "10.83.2.1")
        self.nat.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.nat.run("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "n0", "-j", "MASQUERADE")
        self.nat.run("iptables", "-A", "FORWARD", "-i", "n0", "-o", "n1", "-m", "conntrack", "--ctstate", "NEW",
                     "-j", "DROP")
        hosts_file(self, self.b, {"gw.example.com": "10.83.1.1"})
        hosts_file(self, self.c, {"gw.example.com": "10.83.2.1"})

    def test_the_node_registers_and_its_service_answers_at_the_gateway(self):
        blocks = recipe("nat")
        hosts = {"gw": Host(self, "gw", self.g), "home": Host(self, "home", self.b),
                 "client": Host(self, "client", self.c)}
        gw, home, client = hosts["gw"], hosts["home"], hosts["client"]
        write_files(blocks, hosts)
        steps = commands(blocks)
        self.assertEqual([h for h, _ in steps], ["gw", "home", "gw", "client"])
        self.assertEqual(gw.run(steps[0][1], ready_in(gw)), "")
        # The copy from the gateway to the node that the README asks for.
        shutil.copy(gw.path("home.token"), home.path("home.token"))
        shutil.copy(os.path.join(gw.state, "root-cert.pem"), home.path("gw-root.pem"))
        self.assertEqual(home.run(steps[1][1], ready_in(home)), "")
        # The gateway's /debug/nodes, as the README reads it, until the node has registered.
        wait_until(lambda: registered(gw.run(steps[2][1], ready_in(gw))) == ["home"], timeout=20,
                   what="home registered")
        [reg] = json.loads(gw.run(steps[2][1], ready_in(gw)))["registered"]
        self.assertEqual(reg["peer"].split(":")[0], "10.83.1.2", "the node's connection comes from the NAT")
        self.assertEqual(client.run(steps[3][1], ready_in(client)), "hello from home\n")
        gw_ugate = gw.procs[0]
        to_home = lambda: [f for f in access_lines(gw_ugate) if f["listener"] == "to-home"]
        wait_until(to_home, what="the gateway's access-log line")
        [f] = to_home()
        self.assertEqual((f["listener"], f["src"].split(":")[0], f["result"]), ("to-home", "10.83.2.2", "done"))


def our_rules(ns):
    """ugate's iptables rules and chains in ns (both families)."""
    return [line for tool in ("iptables-save", "ip6tables-save") for line in ns.run(tool).stdout.splitlines()
            if "UGATE" in line]


@needs_netns
class CaptureHostTraffic(unittest.TestCase):
    """The host is a namespace linked to another where example.com's server is (10.84.0.2:80).
    `groupadd` would change the host's /etc/group: instead the namespace's processes see a group
    file with the group, and the recipe's groupadd line checks that it is there."""

    def test_outbound_connections_go_through_ugate_until_removed(self):
        blocks = recipe("capture")
        h, n = Netns("rch"), Netns("rcn")
        self.addCleanup(lambda: [ns.delete() for ns in (h, n)])
        link(h, "h0", n, "n0")
        add_addr(h, "h0", "10.84.0.1/24")
        add_addr(n, "n0", "10.84.0.2/24")
        origin = n.call(lambda: Page(b"example page\n", "10.84.0.2", 80))
        self.addCleanup(origin.close)
        hosts_file(self, h, {"example.com": "10.84.0.2"})
        with open("/etc/group") as f:
            groups = f.read()
        gid = next(g for g in range(61584, 65000) if f":{g}:" not in groups)  # one the host does not use
        etc_file(self, h, "group", groups + f"ugate:x:{gid}:\n")
        host = Host(self, "host", h)

        def local(line):
            return re.sub(r"^groupadd .*", "getent group ugate >/dev/null", line)

        self.assertEqual(our_rules(h), [])
        [(_, text)] = commands(blocks)
        out = host.run(text, ready_in(host), local)
        self.assertEqual(out, "example page\n")
        [ugate] = host.procs
        captured = lambda: [f for f in access_lines(ugate) if f["listener"] == "capture-out"]
        wait_until(captured, what="the access-log line")
        [f] = captured()
        self.assertEqual((f["listener"], f["orig_dst"], f["upstream"], f["result"]),
                         ("capture-out", "10.84.0.2:80", "10.84.0.2:80", "done"))
        self.assertEqual(origin.requests, [("/", "10.84.0.1")])
        self.assertEqual(our_rules(h), [], "capture remove took the rules away")


@needs_netns
class PushWithCurl(unittest.TestCase):
    """In a namespace where push.example.com is 127.0.0.1 (and port 8443 is free)."""

    def test_text_posted_with_curl_is_received_decrypted(self):
        blocks = recipe("push")
        ns = Netns("rpu")
        self.addCleanup(ns.delete)
        hosts_file(self, ns, {"push.example.com": "127.0.0.1"})
        host = Host(self, "push", ns)
        write_files(blocks, {None: host})
        [(_, text)] = commands(blocks)
        self.assertEqual(host.run(text, ready_in(host)), "backup done\n")
        with open(host.path("sub.json")) as f:
            self.assertTrue(json.load(f)["endpoint"].startswith("https://push.example.com:8443/p/"))


if __name__ == "__main__":
    unittest.main()

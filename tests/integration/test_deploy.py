"""Deploying ugate: the systemd unit (systemd-analyze verify, its hardening), `make install` into a
staging tree, the installed node run as the unit runs it (an unprivileged user without
capabilities), and the Grafana dashboard's metric names against /metrics of a node with every
feature on."""
import filecmp
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import UGATE, UdpEcho, Ugate, Server, closed_port, echo, free_base_port, wait_until

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
UNIT = os.path.join(REPO, "deploy", "systemd", "ugate.service")
CONFIG = os.path.join(REPO, "deploy", "ugate.yaml")
DASHBOARD = os.path.join(REPO, "deploy", "grafana", "ugate.json")
NOBODY = 65534  # the unit's DynamicUser stands in as nobody: no group, no capability


def read(path):
    with open(path) as f:
        return f.read()


def seconds(text):
    """A systemd or ugate duration ("30s", "500ms", "1min", "2m", "1h") in seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?", text.strip())
    assert m, f"not a duration: {text!r}"
    return float(m.group(1)) * {"ms": 0.001, None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]


def unit_settings(text):
    """{key: [values in order]} of a unit file's [Service] (and other) sections; comments left out."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        key, value = line.split("=", 1)
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def with_exec_start(text, binary):
    """The unit with ExecStart's binary replaced (systemd-analyze verify checks that it exists)."""
    new, n = re.subn(r"^ExecStart=\S+", lambda _: "ExecStart=" + binary, text, flags=re.M)
    assert n == 1, "one ExecStart"
    return new


def verify(text, directory):
    """systemd-analyze verify of `text` as ugate.service: (accepted, what it said). It exits 0 on keys
    it does not know and values it cannot parse ("..., ignoring"), so anything it prints is a failure."""
    path = os.path.join(directory, "ugate.service")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, timeout=60)
    said = (r.stdout + r.stderr).strip()
    return r.returncode == 0 and not said, said


def make_install(destdir, *args, umask=0o022):
    """`make install` of UGATE (no build) into `destdir`; the CompletedProcess."""
    r = subprocess.run(["make", "-s", "-C", REPO, "install", f"DESTDIR={destdir}", f"UGATE_BUILT={UGATE}", *args],
                       capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.umask(umask))
    if r.returncode != 0:
        raise AssertionError(f"make install exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r


def mode(path):
    return os.stat(path).st_mode & 0o7777


class SystemdUnit(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ugate-unit-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.assertTrue(shutil.which("systemd-analyze"), "systemd-analyze (Debian package systemd) is needed")
        self.unit = read(UNIT)

    def test_systemd_analyze_verify_accepts_the_unit(self):
        ok, said = verify(with_exec_start(self.unit, UGATE), self.dir)
        self.assertTrue(ok, said)

    def test_verify_as_used_here_catches_broken_units(self):
        # Each of these must fail, or the test above proves nothing.
        broken = {
            "unknown key": self.unit.replace("ProtectSystem=strict", "ProtectSystem=strict\nProtectSytem=strict"),
            "bad value": self.unit.replace("ProtectSystem=strict", "ProtectSystem=bogus"),
            "bad time": self.unit.replace("TimeoutStopSec=30s", "TimeoutStopSec=30x"),
            "bad syscall group": self.unit.replace("=@system-service", "=@system-servic"),
            "missing binary": self.unit,  # ExecStart as shipped: /usr/local/bin/ugate is not here
        }
        if os.path.exists("/usr/local/bin/ugate"):
            del broken["missing binary"]
        for what, text in broken.items():
            if what != "missing binary":
                self.assertNotEqual(text, self.unit, what)
                text = with_exec_start(text, UGATE)
            ok, said = verify(text, self.dir)
            self.assertFalse(ok, f"{what}: verify accepted it")

    def test_hardening_and_drain_settings(self):
        s = unit_settings(self.unit)
        one = {k: v[-1] for k, v in s.items()}
        self.assertEqual(s["ExecStart"], ["/usr/local/bin/ugate --config /etc/ugate/ugate.yaml"])
        self.assertNotIn("ExecReload", s, "SIGHUP reloads nothing yet")
        for key, value in {"DynamicUser": "yes", "StateDirectory": "ugate", "StateDirectoryMode": "0700",
                           "ConfigurationDirectory": "ugate", "Environment": "UGATE_STATE_DIR=%S/ugate",
                           "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                           "NoNewPrivileges": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
                           "Restart": "on-failure", "KillSignal": "SIGTERM", "AmbientCapabilities": ""}.items():
            self.assertEqual(one.get(key), value, key)
        self.assertEqual(set(one["CapabilityBoundingSet"].split()),
                         {"CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN", "CAP_NET_RAW"})
        self.assertEqual(set(one["RestrictAddressFamilies"].split()), {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"})
        self.assertIn("@system-service", s["SystemCallFilter"])
        self.assertGreaterEqual(int(one["LimitNOFILE"]), 65536)
        # The shipped config's drain_timeout, as ugate reads it, plus the forced-close grace (2 s) and
        # margin, must fit in TimeoutStopSec, or systemd SIGKILLs a draining node.
        r = subprocess.run([UGATE, "check", "--config", CONFIG], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        drain = seconds(json.loads(r.stdout)["drain_timeout"])
        self.assertGreaterEqual(seconds(one["TimeoutStopSec"]), drain + 10)


class MakeInstall(unittest.TestCase):
    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix="ugate-destdir-")
        self.addCleanup(shutil.rmtree, self.dest, True)
        self.bin = os.path.join(self.dest, "usr/local/bin/ugate")
        self.unit = os.path.join(self.dest, "etc/systemd/system/ugate.service")
        self.config = os.path.join(self.dest, "etc/ugate/ugate.yaml")

    def test_install_puts_binary_unit_and_config_in_place(self):
        r = make_install(self.dest, "PREFIX=/usr/local", umask=0o077)  # modes are set, not left to the umask
        self.assertNotIn("built ./build/ugate", r.stdout, "UGATE_BUILT given: nothing is built")
        self.assertEqual(mode(self.bin), 0o755)
        self.assertEqual(mode(self.unit), 0o644)
        self.assertEqual(mode(self.config), 0o644)
        self.assertEqual(mode(os.path.dirname(self.config)), 0o755)
        self.assertTrue(filecmp.cmp(self.bin, UGATE, shallow=False), "the binary installed is UGATE_BUILT")
        self.assertEqual(read(self.unit), read(UNIT))
        self.assertEqual(read(self.config), read(CONFIG))
        self.assertIn("systemctl daemon-reload", r.stdout)
        self.assertIn("systemctl enable --now ugate", r.stdout)
        # The installed config is valid, for the installed binary.
        c = subprocess.run([self.bin, "check", "--config", self.config], capture_output=True, text=True, timeout=30)
        self.assertEqual(c.returncode, 0, c.stderr)
        # It is the embedded default written out (its comment says so): the same effective config.
        installed = json.loads(c.stdout)
        embedded = json.loads(subprocess.run([self.bin, "check"], capture_output=True, text=True, timeout=30).stdout)
        for cfg in (installed, embedded):
            del cfg["source"]
        self.assertEqual(installed, embedded)
        # And the installed unit verifies, with ExecStart pointed into the staging tree.
        if shutil.which("systemd-analyze"):
            ok, said = verify(with_exec_start(read(self.unit), self.bin), tempfile.mkdtemp(dir=self.dest))
            self.assertTrue(ok, said)

    def test_a_second_install_keeps_an_edited_config(self):
        make_install(self.dest)
        with open(self.config, "a") as f:
            f.write("drain_timeout: 3s   # the operator's\n")
        edited = read(self.config)
        with open(self.unit, "w") as f:
            f.write("stale\n")
        r = make_install(self.dest)
        self.assertEqual(read(self.config), edited)
        self.assertIn("kept", r.stdout)
        self.assertEqual(read(self.unit), read(UNIT), "the unit is ours: replaced")

    def test_prefix_moves_the_binary_and_exec_start(self):
        make_install(self.dest, "PREFIX=/opt/ugate")
        self.assertEqual(mode(os.path.join(self.dest, "opt/ugate/bin/ugate")), 0o755)
        self.assertFalse(os.path.exists(self.bin))
        unit = read(self.unit)
        self.assertEqual(unit_settings(unit)["ExecStart"], ["/opt/ugate/bin/ugate --config /etc/ugate/ugate.yaml"])
        self.assertEqual(unit.replace("/opt/ugate/bin/ugate", "/usr/local/bin/ugate"), read(UNIT))

    def test_uninstall_leaves_the_config(self):
        make_install(self.dest)
        r = subprocess.run(["make", "-s", "-C", REPO, "uninstall", f"DESTDIR={self.dest}"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.bin))
        self.assertFalse(os.path.exists(self.unit))
        self.assertEqual(read(self.config), read(CONFIG))


@unittest.skipUnless(os.geteuid() == 0, "needs root to run the node as another user (setpriv)")
class UnprivilegedService(unittest.TestCase):
    """The installed binary on the installed config, as the unit starts it: a user of its own (nobody
    here), no capabilities, UGATE_STATE_DIR for the state, umask 077."""

    @classmethod
    def setUpClass(cls):
        cls.dest = tempfile.mkdtemp(prefix="ugate-svc-")
        cls.addClassCleanup(shutil.rmtree, cls.dest, True)
        os.chmod(cls.dest, 0o755)
        make_install(cls.dest)
        unit = unit_settings(read(os.path.join(cls.dest, "etc/systemd/system/ugate.service")))
        # The unit's command line, its absolute paths taken into the staging tree.
        cls.command = [cls.dest + a if a.startswith("/") else a for a in unit["ExecStart"][0].split()]
        cls.timeout_stop = seconds(unit["TimeoutStopSec"][-1])

    def state_dir(self):
        """As systemd makes StateDirectory=ugate with StateDirectoryMode=0700: the user's own."""
        path = tempfile.mkdtemp(prefix="state-", dir=self.dest)
        os.chown(path, NOBODY, NOBODY)
        os.chmod(path, 0o700)
        return path

    def start(self, base, config=None, caps=()):
        """The unit's command (with --base-port) as nobody; `config` replaces its --config; `caps` are
        given as ambient capabilities (the unit's AmbientCapabilities=)."""
        command = list(self.command)
        if config:
            command[command.index("--config") + 1] = config
        priv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        if caps:
            names = ",".join("+" + c for c in caps)
            priv += [f"--inh-caps={names}", f"--ambient-caps={names}"]
        else:
            priv += ["--inh-caps=-all", "--bounding-set=-all"]
        env = dict(os.environ, UGATE_STATE_DIR=self.state_dir())
        stderr = tempfile.NamedTemporaryFile(prefix="stderr-", dir=self.dest, delete=False)
        self.addCleanup(stderr.close)
        p = subprocess.Popen(priv + ["--"] + command + ["--base-port", str(base)], env=env,
                             stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=lambda: os.umask(0o077))

        def stop():
            if p.poll() is None:
                p.kill()
                p.wait()
        self.addCleanup(stop)
        p.log = lambda: read(stderr.name)
        p.state_dir = env["UGATE_STATE_DIR"]
        return p

    def ready(self, p, base):
        def up():
            if p.poll() is not None:
                raise AssertionError(f"ugate exited {p.returncode}:\n{p.log()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{base}/readyz", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_until(up, timeout=20, what="ugate /readyz")

    def status(self, p):
        with open(f"/proc/{p.pid}/status") as f:
            return dict(line.split(":", 1) for line in f.read().splitlines())

    def test_default_config_runs_without_capabilities_and_drains_on_sigterm(self):
        base = free_base_port()
        p = self.start(base)
        self.ready(p, base)
        st = self.status(p)
        self.assertEqual(st["Uid"].split()[0], str(NOBODY))
        self.assertEqual(int(st["CapEff"], 16), 0)
        self.assertEqual(int(st["CapAmb"], 16), 0)
        with urllib.request.urlopen(f"http://127.0.0.1:{base}/debug/listeners", timeout=5) as r:
            bound = {l["name"]: l["address"] for l in json.load(r)["listeners"]}
        self.assertEqual(bound, {"capture-out": f"0.0.0.0:{base + 1}", "capture-in": f"0.0.0.0:{base + 6}",
                                 "hbone-h2c": f"127.0.0.1:{base + 9}", "http-proxy": f"127.0.0.1:{base + 2}",
                                 "socks5": f"127.0.0.1:{base + 5}", "mesh": f"0.0.0.0:{base + 8}",
                                 "quic": f"0.0.0.0:{base + 7}", "dns": f"127.0.0.1:{base + 53}"})
        self.assertEqual(mode(p.state_dir), 0o700)
        start = time.monotonic()
        p.send_signal(signal.SIGTERM)  # KillSignal=SIGTERM
        self.assertEqual(p.wait(self.timeout_stop), 0, p.log())
        self.assertLess(time.monotonic() - start, self.timeout_stop)
        self.assertNotIn(" error ", p.log())

    def test_tproxy_needs_the_capability_the_unit_names(self):
        config = os.path.join(tempfile.mkdtemp(dir=self.dest), "tproxy.yaml")
        os.chmod(os.path.dirname(config), 0o755)
        with open(config, "w") as f:
            f.write("admin: { address: '127.0.0.1:+0' }\n"
                    "listeners: [ { name: tp, address: '127.0.0.1:+6', protocol: capture-in, tproxy: true } ]\n")
        os.chmod(config, 0o644)
        base = free_base_port()
        p = self.start(base, config)
        self.assertEqual(p.wait(20), 1)
        self.assertIn("CAP_NET_ADMIN", p.log())
        for cap in ("net_admin", "net_raw"):  # either is enough for IP_TRANSPARENT (Linux 4.19 on)
            with self.subTest(cap=cap):
                base = free_base_port()
                p = self.start(base, config, caps=(cap,))
                self.ready(p, base)
                self.assertNotEqual(int(self.status(p)["CapAmb"], 16), 0)
                p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(self.timeout_stop), 0, p.log())


def make_cert(directory):
    key, cert = os.path.join(directory, "push.key"), os.path.join(directory, "push.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-subj", "/CN=localhost", "-days", "1"],
                   check=True, capture_output=True, timeout=30)
    os.chmod(key, 0o600)
    return key, cert


def parse_metrics(text):
    """({family: type}, {family: [labels dict of each sample]}) of a Prometheus text exposition."""
    types, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name] = kind
        elif line and not line.startswith("#"):
            m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+', line)
            assert m, line
            labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            samples.setdefault(m.group(1), []).append(labels)
    return types, samples


METRIC = re.compile(r"(?<![a-zA-Z0-9_:])((?:ugate|process)_[a-z0-9_]+)")
TARGET_LABELS = {"instance", "job"}  # added by Prometheus when it scrapes


class GrafanaDashboard(unittest.TestCase):
    """deploy/grafana/ugate.json against a node with a listener of every protocol that has metrics,
    the mesh port with the node's CA, a push service, discovery and authorization rules."""

    @classmethod
    def setUpClass(cls):
        cls.dashboard = json.loads(read(DASHBOARD))
        cls.dir = tempfile.mkdtemp(prefix="ugate-dash-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        key, cert = make_cert(cls.dir)
        cls.echo = Server(echo)
        cls.addClassCleanup(cls.echo.close)
        cls.udp_echo = UdpEcho()
        cls.addClassCleanup(cls.udp_echo.close)
        bob = closed_port(cls.addClassCleanup)  # a mesh node that refuses: the pool counts a dial failure
        # Discovery on an interface that does not exist: the metrics, no announce on the host's links. Its
        # UDP port is held with SO_REUSEADDR, as discovery binds it, so nothing else takes it meanwhile.
        disc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        disc.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        disc.bind(("0.0.0.0", 0))
        cls.addClassCleanup(disc.close)
        lo = "address: '127.0.0.1:0'"
        listeners = ", ".join([
            f"{{ name: tcp, {lo}, protocol: tcp, forward: '127.0.0.1:{cls.echo.port}' }}",
            f"{{ name: to-bob, {lo}, protocol: tcp, forward: 'bob:8080' }}",
            f"{{ name: udp, {lo}, protocol: udp, forward: '127.0.0.1:{cls.udp_echo.port}' }}",
            f"{{ name: socks5, {lo}, protocol: socks5 }}",
            f"{{ name: http-proxy, {lo}, protocol: http-proxy }}",
            f"{{ name: auto, {lo}, protocol: auto }}",
            f"{{ name: hbone-h2c, {lo}, protocol: hbone-h2c }}",
            f"{{ name: tls-sni, {lo}, protocol: tls-sni, routes: [ {{ forward: '127.0.0.1:{cls.echo.port}' }} ] }}",
            f"{{ name: capture-out, {lo}, protocol: capture-out }}",
            f"{{ name: mesh, {lo}, protocol: mesh }}",
            f"{{ name: quic, {lo}, protocol: quic }}",
            f"{{ name: push, {lo}, protocol: webpush, tls: {{ cert: '{cert}', key: '{key}' }} }}",
        ])
        extra = ("identity: { trust_domain: deploy.test, name: gw }\n"
                 f"nodes: {{ bob: {{ address: '127.0.0.1:{bob}', id: 'spiffe://deploy.test/ns/default/sa/bob' }} }}\n"
                 f"discovery: {{ port: {disc.getsockname()[1]}, interfaces: [ugate-none0] }}\n"
                 "authorization: { default: auto, rules: [ { name: no-db, action: deny, to: { port: [5432] } } ] }\n")
        cls.ugate = Ugate(f"[ {listeners} ]", extra_yaml=extra)
        cls.addClassCleanup(shutil.rmtree, cls.ugate.dir, True)  # after the process is gone (cleanups run LIFO)
        cls.ugate.start()
        cls.addClassCleanup(cls.ugate.__exit__, None, None, None)
        # One stream to bob: its dial fails, and ugate_mesh_pool_dial_failures_total gets a sample. The
        # stream is reset at once, maybe before connect() returns.
        try:
            with socket.create_connection(("127.0.0.1", cls.ugate.port("to-bob")), timeout=10) as c:
                c.settimeout(10)
                c.recv(1)
        except OSError:
            pass
        wait_until(lambda: "ugate_mesh_pool_dial_failures_total{" in cls.ugate.get("/metrics")[1],
                   what="a pool dial failure counted")
        cls.types, cls.samples = parse_metrics(cls.ugate.get("/metrics")[1])

    def panels(self):
        out = []
        for p in self.dashboard["panels"]:
            out += [p] + p.get("panels", [])  # rows may hold their panels (collapsed)
        return [p for p in out if p["type"] != "row"]

    def exprs(self):
        """(expr, legendFormat) of every target."""
        return [(t["expr"], t.get("legendFormat", "")) for p in self.panels() for t in p["targets"]]

    def variable_queries(self):
        out = []
        for v in self.dashboard["templating"]["list"]:
            if v["type"] == "query":
                q = v["query"]
                out.append(q["query"] if isinstance(q, dict) else q)
        return out

    def labels_of(self, family):
        return {k for s in self.samples.get(family, []) for k in s} | TARGET_LABELS

    def test_the_dashboard_is_grafana_json_with_panels_and_targets(self):
        d = self.dashboard
        self.assertGreaterEqual(d["schemaVersion"], 36)
        variables = {v["name"]: v for v in d["templating"]["list"]}
        self.assertEqual((variables["datasource"]["type"], variables["datasource"]["query"]), ("datasource", "prometheus"))
        self.assertEqual(variables["instance"]["type"], "query")
        panels = self.panels()
        self.assertGreaterEqual(len(panels), 20)
        ids = [p["id"] for p in d["panels"]] + [q["id"] for p in d["panels"] for q in p.get("panels", [])]
        self.assertEqual(len(ids), len(set(ids)), "panel ids are unique")
        for p in panels:
            with self.subTest(panel=p["title"]):
                self.assertEqual(p["datasource"], {"type": "prometheus", "uid": "${datasource}"})
                self.assertTrue(p["targets"])
                refs = [t["refId"] for t in p["targets"]]
                self.assertEqual(len(refs), len(set(refs)))
                for t in p["targets"]:
                    self.assertTrue(t["expr"].strip())
                    self.assertIn('instance=~"$instance"', t["expr"], "every query follows the instance variable")
                g = p["gridPos"]
                self.assertLessEqual(g["x"] + g["w"], 24)

    def test_every_metric_name_in_the_dashboard_is_exported(self):
        used = set(METRIC.findall(read(DASHBOARD)))
        self.assertGreaterEqual(len(used), 30)
        missing = sorted(used - set(self.types))
        self.assertEqual(missing, [], "names the dashboard uses that /metrics does not export")
        # What the dashboard covers: each area the README names has a panel.
        for prefix in ("ugate_listener_", "ugate_authz_", "ugate_mesh_", "ugate_identity_", "ugate_webpush_",
                       "ugate_discovery_", "ugate_process_", "ugate_udp_", "ugate_quic_"):
            self.assertTrue(any(n.startswith(prefix) for n in used), prefix)

    def test_counters_are_rated(self):
        for expr, _ in self.exprs():
            for m in METRIC.finditer(expr):
                if self.types.get(m.group(1)) == "counter":
                    with self.subTest(expr=expr):
                        self.assertRegex(expr[:m.start()], r"(rate|increase)\(\s*$", m.group(1))

    def test_labels_the_dashboard_names_exist(self):
        for expr, legend in self.exprs() + [(q, "") for q in self.variable_queries()]:
            with self.subTest(expr=expr):
                families = METRIC.findall(expr)
                available = set().union(*(self.labels_of(f) for f in families))
                # Matchers right after a name: the label exists; a literal value is one the node reports.
                for name, matchers in re.findall(r"((?:ugate|process)_[a-z0-9_]+)\{([^}]*)\}", expr):
                    for key, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', matchers):
                        self.assertIn(key, self.labels_of(name), f"{name} has no label {key}")
                        if op == "=" and key not in TARGET_LABELS:
                            self.assertIn(value, {s.get(key) for s in self.samples.get(name, [])}, f"{name}{{{key}}}")
                for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
                    for key in filter(None, (k.strip() for k in group.split(","))):
                        self.assertIn(key, available, f"by ({key})")
                m = re.match(r"label_values\((?:(\w+)(?:\{[^}]*\})?\s*,\s*)?(\w+)\)", expr)
                if m:
                    self.assertIn(m.group(2), self.labels_of(m.group(1)))
                # A legend names labels the query's result keeps: its by (...) of an aggregation, else the series'.
                agg = re.match(r"\s*(sum|min|max|avg|count)\s*(?:by\s*\(([^)]*)\))?\s*\(", expr)
                kept = ({k.strip() for k in (agg.group(2) or "").split(",") if k.strip()} if agg else available)
                for key in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend):
                    self.assertIn(key, kept, f"legend {legend!r}")


if __name__ == "__main__":
    unittest.main()

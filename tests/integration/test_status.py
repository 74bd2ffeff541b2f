"""The node at a glance: GET /debug/status, the status page on the admin port (read by urllib, and by
headless Chromium through npm playwright-core, with JavaScript on and off), and `ugate status`.
Every number the page and the command show must be the one /metrics and /debug/streams report."""
import json
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import UGATE, Server, Ugate, echo, npm_modules, wait_until

BROWSER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "status_page_browser.js")
PLAYWRIGHT = "playwright-core@1.65.2"
CHROMIUM = "/usr/bin/chromium"


def listeners_yaml(echo_port):
    return (f"[ {{ name: alpha, address: '127.0.0.1:0', protocol: tcp, forward: '127.0.0.1:{echo_port}' }}, "
            f"  {{ name: bravo, address: '127.0.0.1:0', protocol: tcp, forward: '127.0.0.1:{echo_port}' }}, "
            f"  {{ name: mesh, address: '127.0.0.1:0', protocol: mesh }} ]")


class NodeWithStreams(unittest.TestCase):
    """One node with two forward listeners and the mesh port (so it has an identity), and streams
    held open through them, each having echoed a different number of bytes."""

    @classmethod
    def setUpClass(cls):
        cls.echo = Server(echo)
        cls.addClassCleanup(cls.echo.sock.close)
        cls.ug = Ugate(listeners_yaml(cls.echo.port))
        cls.ug.start()
        cls.addClassCleanup(cls.ug.__exit__)
        cls.held = []
        for listener, size in (("alpha", 1000), ("alpha", 2000), ("bravo", 3000)):
            cls.open_stream(listener, size)

    @classmethod
    def open_stream(cls, listener, size):
        """A stream through `listener` that echoed `size` bytes and stays open; returns its ID."""
        before = {s["id"] for s in cls.streams()}
        s = socket.create_connection(("127.0.0.1", cls.ug.port(listener)), timeout=10)
        cls.addClassCleanup(s.close)
        s.sendall(b"x" * size)
        got = 0
        while got < size:
            got += len(s.recv(65536))
        cls.held.append(s)
        def new_ids():
            return [x["id"] for x in cls.streams() if x["id"] not in before]
        wait_until(new_ids, what="the new stream in /debug/streams")
        return new_ids()[0]

    @classmethod
    def streams(cls):
        return json.loads(cls.ug.get("/debug/streams")[1])

    def status(self):
        code, body = self.ug.get("/debug/status")
        self.assertEqual(code, 200, body)
        return json.loads(body)

    def settled(self):
        """/debug/status, /metrics and /debug/streams read while nothing moves, so they must agree."""
        wait_until(lambda: all(s["bytes_up"] > 0 for s in self.streams()), what="bytes counted")
        return self.status(), self.ug.metrics(), self.streams()

    def assert_listener_numbers(self, shown, metrics, as_text=False):
        """`shown`: listener name -> {accepted, active, bytes_up, bytes_down}, as the page or status says."""
        for name in ("alpha", "bravo"):
            expect = {"accepted": metrics[f'ugate_listener_accepted_total{{listener="{name}"}}'],
                      "active": metrics[f'ugate_listener_active_streams{{listener="{name}"}}'],
                      "bytes_up": metrics[f'ugate_listener_bytes_total{{listener="{name}",direction="up"}}'],
                      "bytes_down": metrics[f'ugate_listener_bytes_total{{listener="{name}",direction="down"}}']}
            got = {k: (int(shown[name][k]) if as_text else shown[name][k]) for k in expect}
            self.assertEqual(got, {k: int(v) for k, v in expect.items()}, name)
        self.assertEqual(int(shown["alpha"]["active"]), 2)
        self.assertEqual(int(shown["bravo"]["active"]), 1)


class StatusEndpoint(NodeWithStreams):
    def test_debug_status_says_what_metrics_and_streams_say(self):
        status, metrics, streams = self.settled()
        self.assertEqual(status["state"], "ready")
        self.assertEqual(status["active_streams"], len(streams))
        self.assertEqual(status["workers"], metrics["ugate_workers"])
        self.assert_listener_numbers({l["name"]: l for l in status["listeners"]}, metrics)
        self.assertEqual({l["name"] for l in status["listeners"]}, {"alpha", "bravo", "mesh"})
        mesh = next(l for l in status["listeners"] if l["name"] == "mesh")
        self.assertEqual(mesh["address"], f"127.0.0.1:{self.ug.port('mesh')}")

        r = subprocess.run([UGATE, "id", "--json", "--config", self.ug.config], capture_output=True, text=True,
                           timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        me = json.loads(r.stdout)
        self.assertEqual(status["identity"]["node_id"], me["node_id"])
        self.assertEqual(status["identity"]["spiffe_id"], me["spiffe_id"])
        self.assertEqual(status["identity"]["not_after"], me["not_after"])
        self.assertGreater(status["identity"]["expires_in_seconds"], 3600)

    def test_page_without_javascript_shows_the_same_numbers_and_is_locked_down(self):
        status, metrics, streams = self.settled()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ug.admin_port}/", timeout=5) as r:
            page = r.read().decode()
            policy = r.headers["content-security-policy"]
        self.assertIn("script-src 'self'", policy)
        self.assertIn("default-src 'none'", policy)
        self.assertIn(status["identity"]["node_id"], page)
        rows = {m.group(1): dict(re.findall(r'data-field="(\w+)">([^<]*)<', m.group(2)))
                for m in re.finditer(r'<tr data-listener="(\w+)">(.*?)</tr>', page)}
        self.assert_listener_numbers(rows, metrics, as_text=True)
        shown = {m.group(1): dict(re.findall(r'data-field="(\w+)">([^<]*)<', m.group(2)))
                 for m in re.finditer(r'<tr data-stream="(\d+)">(.*?)</tr>', page)}
        self.assertEqual(set(shown), {str(s["id"]) for s in streams})
        for s in streams:
            self.assertEqual(int(shown[str(s["id"])]["bytes_up"]), s["bytes_up"])
            self.assertEqual(shown[str(s["id"])]["listener"], s["listener"])

        code, filtered = self.ug.get("/?filter=BRAVO&part=main")
        self.assertEqual(code, 200)
        self.assertTrue(filtered.startswith('<main id="status">'), filtered[:80])
        self.assertEqual(filtered.count("<tr data-stream="), sum(s["listener"] == "bravo" for s in streams))

    def test_assets_are_served_and_other_methods_refused(self):
        code, js = self.ug.get("/status.js")
        self.assertEqual(code, 200)
        self.assertIn("part: 'main'", js)
        self.assertEqual(self.ug.get("/status.css")[0], 200)
        self.assertEqual(self.ug.get("/favicon.ico")[0], 204, "no icon, and no 404 in a browser's console")
        self.assertEqual(self.ug.get("/nope")[0], 404)


class StatusCommand(NodeWithStreams):
    def run_status(self, *args, config=None):
        cmd = [UGATE, "status", *args]
        if config:
            cmd[1:1] = ["--config", config]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)

    def test_text_and_json_against_a_running_node(self):
        status, metrics, _ = self.settled()
        admin = f"127.0.0.1:{self.ug.admin_port}"
        r = self.run_status("--admin", admin)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(": ready,", r.stdout.splitlines()[0])
        self.assertIn(f"node_id    {status['identity']['node_id']}", r.stdout)
        table = {}
        for line in r.stdout.splitlines():
            cells = line.split()
            if cells and cells[0] in ("alpha", "bravo"):
                table[cells[0]] = dict(zip(("protocol", "address", "accepted", "active", "bytes_up", "bytes_down"),
                                           cells[1:]))
        self.assert_listener_numbers(table, metrics, as_text=True)

        r = self.run_status("--admin", admin, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        as_json = json.loads(r.stdout)
        self.assertEqual(as_json["identity"], self.status()["identity"] | {"expires_in_seconds":
                                                                           as_json["identity"]["expires_in_seconds"]})
        self.assert_listener_numbers({l["name"]: l for l in as_json["listeners"]}, metrics)

    def test_the_config_names_the_admin_port(self):
        # The config asks for port 0; its address is known only from --ports-file, and the command says so.
        r = self.run_status(config=self.ug.config)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--admin HOST:PORT", r.stderr)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(f"admin: {{ address: '127.0.0.1:{self.ug.admin_port}' }}\nlisteners: []\n")
            f.flush()
            r = self.run_status(config=f.name)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_watch_redraws_a_bounded_number_of_times(self):
        r = self.run_status("--admin", f"127.0.0.1:{self.ug.admin_port}", "--watch", "--json", "--count", "3",
                            "--interval", "0.2")
        self.assertEqual(r.returncode, 0, r.stderr)
        draws = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual(len(draws), 3)
        self.assertLessEqual(draws[0]["uptime_seconds"], draws[-1]["uptime_seconds"])


class StatusOfStoppedAndDrainingNodes(unittest.TestCase):
    def test_stopped_node_gives_a_clear_message_and_exit_2(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))  # bound, never listening: refused
        port = s.getsockname()[1]
        try:
            r = subprocess.run([UGATE, "status", "--admin", f"127.0.0.1:{port}"], capture_output=True, text=True,
                               timeout=30)
        finally:
            s.close()
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assertIn(f"cannot reach the admin port at 127.0.0.1:{port}", r.stderr)
        self.assertIn("Is ugate running?", r.stderr)

    def test_not_an_admin_port_is_told_apart(self):
        server = Server(lambda conn: conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
        try:
            r = subprocess.run([UGATE, "status", "--admin", f"127.0.0.1:{server.port}"], capture_output=True,
                               text=True, timeout=30)
        finally:
            server.sock.close()
        self.assertEqual(r.returncode, 2)
        self.assertIn("answered HTTP 404", r.stderr)

    def test_draining_node_is_not_ready_exit_1(self):
        srv = Server(echo)
        self.addCleanup(srv.sock.close)
        with Ugate(listeners_yaml(srv.port), extra_yaml="drain_timeout: 20s") as ug:
            held = socket.create_connection(("127.0.0.1", ug.port("alpha")), timeout=10)
            self.addCleanup(held.close)
            held.sendall(b"hi")
            held.recv(2)
            ug.proc.send_signal(signal.SIGTERM)
            wait_until(lambda: ug.get("/readyz")[0] == 503, what="draining")
            r = subprocess.run([UGATE, "status", "--admin", f"127.0.0.1:{ug.admin_port}"], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn(": draining,", r.stdout)
            held.close()
            self.assertEqual(ug.proc.wait(20), 0)


class StatusPageInChromium(NodeWithStreams):
    """The page as a browser shows it: on a phone-sized screen, live without a reload, filterable,
    and without JavaScript. The screenshot is kept in UGATE_ARTIFACT_DIR."""

    def next_step(self, proc, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                line = proc.stdout.readline()
                if not line:
                    break
                step = json.loads(line)
                self.assertNotEqual(step["step"], "error", step.get("message"))
                return step
        proc.kill()
        self.fail("the browser script said nothing: " + proc.stderr.read())

    def assert_page_matches(self, shown, status, metrics, streams):
        self.assertEqual(shown["state"], "ready")
        self.assertEqual(shown["nodeId"], status["identity"]["node_id"])
        self.assertEqual(shown["spiffeId"], status["identity"]["spiffe_id"])
        self.assertEqual(int(shown["activeStreams"]), len(streams))
        self.assert_listener_numbers(shown["listeners"], metrics, as_text=True)
        by_id = {str(s["id"]): s for s in streams}
        self.assertEqual({s["id"] for s in shown["streams"]}, set(by_id))
        for s in shown["streams"]:
            self.assertEqual(int(s["bytes_up"]), by_id[s["id"]]["bytes_up"])
            self.assertEqual(int(s["bytes_down"]), by_id[s["id"]]["bytes_down"])
            self.assertEqual(s["src"], by_id[s["id"]]["src"])

    def test_page_in_headless_chromium(self):
        self.assertTrue(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: scripts/install-deps.sh installs it")
        env = dict(os.environ, NODE_PATH=npm_modules(PLAYWRIGHT))
        artifacts = os.environ.get("UGATE_ARTIFACT_DIR") or tempfile.mkdtemp(prefix="ugate-artifacts-")
        os.makedirs(artifacts, exist_ok=True)
        screenshot = os.path.join(artifacts, "status-page.png")
        if os.path.exists(screenshot):
            os.unlink(screenshot)
        status, metrics, streams = self.settled()
        proc = subprocess.Popen(["node", BROWSER_SCRIPT, f"http://127.0.0.1:{self.ug.admin_port}/", screenshot],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())

        plain = self.next_step(proc)
        self.assertEqual(plain["step"], "no-javascript")
        self.assert_page_matches(plain, status, metrics, streams)
        self.assertIn("JavaScript is off", plain["live"])

        loaded = self.next_step(proc)
        self.assertEqual(loaded["step"], "loaded")
        self.assertEqual(loaded["errors"], [])
        self.assertTrue(loaded["live"].startswith("Live"), loaded["live"])
        self.assertLessEqual(loaded["width"], 390, "the page scrolls sideways on a phone")
        self.assertGreater(os.path.getsize(screenshot), 10000)

        # A stream opened after the page loaded shows up without a reload.
        new_id = self.open_stream("bravo", 4000)
        proc.stdin.write(f"{new_id}\n")
        proc.stdin.flush()
        appeared = self.next_step(proc)
        self.assertEqual(appeared["step"], "stream-appeared")
        self.assertEqual(appeared["errors"], [])
        self.assertEqual(int(appeared["activeStreams"]), 4)
        self.assertIn(str(new_id), {s["id"] for s in appeared["streams"]})

        proc.stdin.write("bravo\n")
        proc.stdin.flush()
        filtered = self.next_step(proc)
        self.assertEqual(filtered["step"], "filtered")
        self.assertEqual({s["listener"] for s in filtered["streams"]}, {"bravo"})
        self.assertEqual(len(filtered["streams"]), sum(s["listener"] == "bravo" for s in self.streams()))
        self.assertTrue(filtered["url"].endswith("/?filter=bravo"), filtered["url"])
        proc.stdin.close()
        self.assertEqual(proc.wait(30), 0, proc.stderr.read())


if __name__ == "__main__":
    unittest.main()

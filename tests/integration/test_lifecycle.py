"""Process life: start-up errors, the command line, SIGTERM drain, other signals."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import UGATE, Server, Ugate, free_base_port, recv_all, tcp_listener_yaml, wait_until


def run(*args, env=None):
    return subprocess.run([UGATE, *args], capture_output=True, text=True, timeout=20, env=env)


# Removed when the interpreter exits (TemporaryDirectory's finalizer).
CONFIG_DIR = tempfile.TemporaryDirectory(prefix="ugate-cfg-")


def write_config(text):
    fd, path = tempfile.mkstemp(suffix=".yaml", dir=CONFIG_DIR.name)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class CommandLine(unittest.TestCase):
    def test_version_and_help(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^ugate \d+\.\d+\.\d+")
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        for flag in ("--config", "--base-port", "--state-dir", "--workers", "--log-level", "--version", "check", "run"):
            self.assertIn(flag, r.stdout)

    def test_check_prints_the_effective_config(self):
        path = write_config("listeners:\n  - { name: web, address: '127.0.0.1:+9', forward: 'example.internal:8080' }\n")
        r = run("check", "--config", path, "--base-port", "21000")
        self.assertEqual(r.returncode, 0, r.stderr)
        cfg = json.loads(r.stdout)
        self.assertEqual(cfg["admin"]["address"], "127.0.0.1:21000")
        self.assertEqual(cfg["listeners"][0]["address"], "127.0.0.1:21009")
        self.assertEqual(cfg["listeners"][0]["idle_timeout"], "1h")
        self.assertIn("is valid", r.stderr)

    def test_config_from_environment(self):
        path = write_config("workers: 3\n")
        r = run("check", env={**os.environ, "UGATE_CONFIG": path})
        self.assertEqual(json.loads(r.stdout)["workers"], 3)

    def test_bad_config_names_file_line_and_key(self):
        path = write_config("listeners:\n  - name: web\n    address: 127.0.0.1:9000\n    forward: nope\n")
        for args in (("check", "--config", path), ("--config", path)):
            r = run(*args)
            self.assertEqual(r.returncode, 1)
            self.assertIn(f"{path}:4: listeners[0].forward: expected HOST:PORT in 'nope'", r.stderr)

    def test_missing_config_file(self):
        r = run("--config", "/nonexistent.yaml")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("/nonexistent.yaml", r.stderr)

    def test_port_in_use_is_a_clear_start_error(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ug = Ugate(f"[ {tcp_listener_yaml('web', port, '127.0.0.1:1')} ]")
        ug.stderr = open(ug.stderr_path, "w")
        r = subprocess.run([UGATE, "--config", ug.config], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"listener 'web': cannot listen on 127.0.0.1:{port}: Address already in use", r.stderr)
        taken.close()
        ug.stderr.close()

    def test_embedded_default_with_base_port(self):
        base = free_base_port()
        with tempfile.TemporaryDirectory() as state:
            p = subprocess.Popen([UGATE, "--base-port", str(base), "--state-dir", state + "/s"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                def healthy():
                    try:
                        with socket.create_connection(("127.0.0.1", base), timeout=1) as s:
                            s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                            return b"200 OK" in recv_all(s)
                    except OSError:
                        return False
                wait_until(healthy, what="admin on the base port")
                self.assertEqual(oct(os.stat(state + "/s").st_mode & 0o777), "0o700")
                p.send_signal(signal.SIGINT)
                self.assertEqual(p.wait(10), 0)
            finally:
                p.kill()
                p.wait()


class Drain(unittest.TestCase):
    def test_sigterm_lets_open_streams_finish_then_exits_0(self):
        def slow_reply(conn):
            request = recv_all(conn)
            time.sleep(0.5)  # still working when SIGTERM arrives
            conn.sendall(b"done:" + request)

        server = Server(slow_reply)
        with Ugate(f"[ {tcp_listener_yaml('web', 0, f'127.0.0.1:{server.port}')} ]",
                   extra_yaml="drain_timeout: 5s") as ug:
            port = ug.port("web")
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(b"job")
            c.shutdown(socket.SHUT_WR)
            wait_until(lambda: ug.metric("ugate_listener_active_streams", listener="web") == 1, what="stream open")
            ug.proc.send_signal(signal.SIGTERM)
            wait_until(lambda: ug.get("/readyz")[0] == 503, what="not ready while draining")
            self.assertEqual(ug.get("/readyz")[1], "draining\n")
            with self.assertRaises(OSError):  # new connections are refused
                socket.create_connection(("127.0.0.1", port), timeout=2).recv(1)
            c.settimeout(5)
            self.assertEqual(recv_all(c), b"done:job")
            self.assertEqual(ug.proc.wait(10), 0)
            self.assertIn("result=done", ug.access_lines()[-1])
            c.close()
        server.close()

    def test_drain_timeout_closes_what_is_left(self):
        server = Server(lambda conn: recv_all(conn))
        with Ugate(f"[ {tcp_listener_yaml('web', 0, f'127.0.0.1:{server.port}')} ]",
                   extra_yaml="drain_timeout: 400ms") as ug:
            c = socket.create_connection(("127.0.0.1", ug.port("web")))
            wait_until(lambda: ug.metric("ugate_listener_active_streams", listener="web") == 1, what="stream open")
            start = time.monotonic()
            ug.proc.send_signal(signal.SIGTERM)
            self.assertEqual(ug.proc.wait(10), 0)
            self.assertLess(time.monotonic() - start, 3)
            c.settimeout(5)
            with self.assertRaises(ConnectionResetError, msg="the client saw the stream cut"):
                c.recv(1)
            self.assertIn("result=drained", ug.access_lines()[-1])
            c.close()
        server.close()

    def test_sighup_and_sigusr_are_logged_and_change_nothing(self):
        # Their default action killed the process at once, with no drain and no log line.
        server = Server(lambda conn: conn.sendall(b"pong:" + recv_all(conn)))
        with Ugate(f"[ {tcp_listener_yaml('web', 0, f'127.0.0.1:{server.port}')} ]") as ug:
            c = socket.create_connection(("127.0.0.1", ug.port("web")))
            wait_until(lambda: ug.metric("ugate_listener_active_streams", listener="web") == 1, what="stream open")
            # One at a time: a signal sent while the same one is pending is merged with it.
            for sig, line in ((signal.SIGHUP, "SIGHUP: config reload is not supported yet"),
                              (signal.SIGUSR1, "SIGUSR1: ignored"), (signal.SIGUSR2, "SIGUSR2: ignored"),
                              (signal.SIGHUP, "SIGHUP: config reload is not supported yet")):
                seen = ug.log().count(line)
                ug.proc.send_signal(sig)
                wait_until(lambda: ug.log().count(line) > seen, what=f"{sig.name} logged")
            self.assertIsNone(ug.proc.poll())
            self.assertTrue(ug.ready())
            c.sendall(b"still here")  # the open stream is untouched
            c.shutdown(socket.SHUT_WR)
            c.settimeout(5)
            self.assertEqual(recv_all(c), b"pong:still here")
            c.close()
            self.assertEqual(ug.stop(), 0)
        server.close()


class Ports(unittest.TestCase):
    def test_ports_left_to_the_kernel_are_in_the_ports_file_and_debug_listeners(self):
        # The harness itself now runs every ugate with admin on port 0 and --ports-file.
        server = Server(lambda conn: conn.sendall(b"pong:" + recv_all(conn)))
        listeners = (f"[ {tcp_listener_yaml('web', 0, f'127.0.0.1:{server.port}')}, "
                     f"{{ name: dns, address: '127.0.0.1:0', protocol: udp, forward: '127.0.0.1:53' }} ]")
        with Ugate(listeners) as ug:
            self.assertNotEqual(ug.admin_port, 0)
            self.assertEqual(set(ug.bound), {"web", "dns"})
            self.assertNotEqual(ug.port("web"), 0)
            status, body = ug.get("/debug/listeners")
            self.assertEqual(status, 200)
            with open(ug.ports_file) as f:
                self.assertEqual(json.loads(body), json.load(f))
            self.assertEqual([l["protocol"] for l in json.loads(body)["listeners"]], ["tcp", "udp"])
            with socket.create_connection(("127.0.0.1", ug.port("web")), timeout=5) as c:
                c.sendall(b"hi")
                c.shutdown(socket.SHUT_WR)
                self.assertEqual(recv_all(c), b"pong:hi")
            self.assertEqual(ug.stop(), 0)
        server.close()


if __name__ == "__main__":
    unittest.main()

"""Unix stream sockets as listeners and as forward targets: curl (--unix-socket) through the
http-proxy and auto doors, socat through a Unix listener and a tcp listener to a Unix socket and back, the peer's
credentials (SO_PEERCRED) in /debug/streams and the access log, authorization by uid with a client
that really runs as another user (setpriv), the abstract namespace, and the socket file's mode,
owner, stale replacement and removal."""
import grp
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import unittest

from harness import HttpOrigin, RandomStream, Server, Ugate, access_fields, both_ways_server, echo, wait_until

NOBODY = pwd.getpwnam("nobody")
NOGROUP = grp.getgrgid(NOBODY.pw_gid)


def unix_client(path):
    """A connected client socket; an "@name" path is in the abstract namespace."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect("\0" + path[1:] if path.startswith("@") else path)
    except OSError:
        s.close()
        raise
    return s


class UnixSockets(unittest.TestCase):
    def setUp(self):
        # Short: a socket path has at most 107 bytes. Searchable by others, for the client run as nobody.
        self.dir = tempfile.mkdtemp(prefix="ugate-uds-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def origin(self):
        origin = HttpOrigin()
        self.addCleanup(origin.close)
        return origin

    def curl_unix(self, socket_path, url, as_nobody=False):
        """curl over a Unix socket; the request target in absolute form, as a proxy takes it
        (curl uses no proxy over a Unix socket). (exit code, body, pid of curl)."""
        cmd = ["curl", "-sS", "--max-time", "10", "--unix-socket", socket_path, "--request-target", url, url]
        if as_nobody:
            cmd = ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups", "--"] + cmd
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = p.communicate(timeout=20)
        return p.returncode, out, p.pid

    def test_curl_through_http_proxy_and_auto_listeners_on_unix_sockets(self):
        origin = self.origin()
        proxy_sock, auto_sock = self.path("proxy.sock"), self.path("auto.sock")
        listeners = (f"[ {{ name: proxy, address: 'unix:{proxy_sock}', protocol: http-proxy }},"
                     f"  {{ name: auto, address: 'unix:{auto_sock}', protocol: auto }} ]")
        with Ugate(listeners) as ug:
            self.assertEqual(ug.bound["proxy"], (f"unix:{proxy_sock}", None))
            pids = {}
            for name, sock in (("proxy", proxy_sock), ("auto", auto_sock)):
                url = f"http://127.0.0.1:{origin.port}/via-{name}"
                code, body, pids[name] = self.curl_unix(sock, url)
                self.assertEqual(code, 0, name)
                self.assertEqual(body, f"origin {origin.port} GET /via-{name}\n".encode())
            wait_until(lambda: len(access_fields(ug, lambda f: f["listener"] in ("proxy", "auto"))) >= 2,
                       what="access-log lines")
            for f in access_fields(ug, lambda f: f["listener"] in ("proxy", "auto")):
                self.assertEqual(f["peer_pid"], str(pids[f["listener"]]), f)  # curl itself
                self.assertEqual(f["peer_uid"], str(os.getuid()))
                self.assertEqual(f["peer_gid"], str(os.getgid()))
                self.assertEqual(f["src"], "-")  # no IP address
                self.assertEqual(f["result"], "done")

    def test_socat_through_a_unix_listener_and_a_tcp_listener_to_a_unix_target_and_back(self):
        backend, entry = self.path("backend.sock"), self.path("in.sock")
        # The Unix-socket server sends its own seeded bytes while it hashes what arrives (an echo
        # through one socat process can deadlock on its own blocking writes: not what is tested).
        listening = socket.socket(socket.AF_UNIX)
        listening.bind(backend)
        listening.listen(4)
        total = 8 << 20
        handler, results = both_ways_server(total, seed=7)
        server = Server(handler, sock=listening)
        self.addCleanup(server.close)
        listeners = (f"[ {{ name: to-unix, address: '127.0.0.1:0', protocol: tcp, forward: 'unix:{backend}' }} ]")
        with Ugate(listeners) as first:
            hop = (f"[ {{ name: from-unix, address: 'unix:{entry}', protocol: tcp,"
                   f"    forward: '127.0.0.1:{first.port('to-unix')}' }} ]")
            with Ugate(hop) as second:
                up = b"".join(RandomStream(8, total))
                client = subprocess.run(["socat", "-t", "10", "-", f"UNIX-CONNECT:{entry}"], input=up,
                                        capture_output=True, timeout=60)
                self.assertEqual(client.returncode, 0, client.stderr)
                wait_until(lambda: "received" in results and "sent" in results, what="the server's digests")
                self.assertEqual(results["received"], (total, hashlib.sha256(up).hexdigest()), "up")
                self.assertEqual((len(client.stdout), hashlib.sha256(client.stdout).hexdigest()),
                                 (total, results["sent"]), "down")
                self.assertEqual(server.errors, [])
                wait_until(lambda: access_fields(second, lambda f: f["listener"] == "from-unix"), what="log line")
                [line] = access_fields(second, lambda f: f["listener"] == "from-unix")
                self.assertEqual((line["bytes_up"], line["bytes_down"]), (str(total), str(total)))
                self.assertEqual(line["peer_uid"], str(os.getuid()))
            wait_until(lambda: access_fields(first, lambda f: f["listener"] == "to-unix"), what="log line")
            [line] = access_fields(first, lambda f: f["listener"] == "to-unix")
            self.assertEqual(line["dst"], f"unix:{backend}")
            self.assertEqual(line["result"], "done")
            self.assertNotIn("peer_uid", line)  # a TCP client: no credentials to show
            self.assertEqual((line["bytes_up"], line["bytes_down"]), (str(total), str(total)))

    def test_tls_sni_peeks_the_client_hello_on_a_unix_socket(self):
        # openssl s_client over the socket; the route's server only records what arrives: the
        # whole ClientHello, which tls-sni peeked (MSG_PEEK on a Unix socket) and did not consume.
        got = []
        server = Server(lambda conn: got.append(conn.recv(5)))
        self.addCleanup(server.close)
        sock = self.path("tls.sock")
        listeners = (f"[ {{ name: tls, address: 'unix:{sock}', protocol: tls-sni,"
                     f"    routes: [ {{ sni: a.test, forward: '127.0.0.1:{server.port}' }} ] }} ]")
        with Ugate(listeners) as ug:
            subprocess.run(["openssl", "s_client", "-unix", sock, "-servername", "a.test"], input=b"",
                           capture_output=True, timeout=20)
            wait_until(lambda: access_fields(ug, lambda f: f["listener"] == "tls"), what="log line")
            [line] = access_fields(ug, lambda f: f["listener"] == "tls")
            self.assertEqual((line["sni"], line["dst"]), ("a.test", f"127.0.0.1:{server.port}"))
            self.assertEqual(line["peer_uid"], str(os.getuid()))
            wait_until(lambda: got, what="the upstream's first bytes")
            self.assertEqual(got[0][:1], b"\x16", "a TLS handshake record, from its first byte")

    def test_debug_streams_show_the_peer_credentials(self):
        server = Server(echo)
        self.addCleanup(server.close)
        sock = self.path("app.sock")
        listeners = f"[ {{ name: app, address: 'unix:{sock}', protocol: tcp, forward: '127.0.0.1:{server.port}' }} ]"
        with Ugate(listeners) as ug:
            with unix_client(sock) as c:
                c.sendall(b"ping")
                self.assertEqual(c.recv(4), b"ping")
                streams = json.loads(ug.get("/debug/streams")[1])
                mine = [s for s in streams if s["listener"] == "app"]
                self.assertEqual(len(mine), 1, streams)
                self.assertEqual((mine[0]["peer_pid"], mine[0]["peer_uid"], mine[0]["peer_gid"]),
                                 (os.getpid(), os.getuid(), os.getgid()))
                self.assertEqual(mine[0]["src"], "")

    def test_a_rule_by_uid_allows_that_user_and_refuses_another(self):
        if os.getuid() != 0:
            self.skipTest("needs root, to run the client as another user (setpriv)")
        origin = self.origin()
        sock = self.path("proxy.sock")
        listeners = f"[ {{ name: proxy, address: 'unix:{sock}', protocol: http-proxy, mode: '0666' }} ]"
        authz = ("authorization:\n  default: deny\n  rules:\n"
                 f"    - {{ name: only-nobody, action: allow, from: {{ uid: {NOBODY.pw_name} }} }}\n")
        with Ugate(listeners, extra_yaml=authz) as ug:
            url = f"http://127.0.0.1:{origin.port}/x"
            code, body, _ = self.curl_unix(sock, url, as_nobody=True)
            self.assertEqual(code, 0)
            self.assertEqual(body, f"origin {origin.port} GET /x\n".encode())
            code, body, _ = self.curl_unix(sock, url)  # root: another uid
            self.assertIn(b"is not allowed for this client", body)
            self.assertEqual(len(origin.requests), 1, "the refused request reached the origin")
            wait_until(lambda: len(access_fields(ug, lambda f: f["listener"] == "proxy")) >= 2, what="log lines")
            by_uid = {f["peer_uid"]: f for f in access_fields(ug, lambda f: f["listener"] == "proxy")}
            self.assertEqual(by_uid[str(NOBODY.pw_uid)]["authz"], "allow:only-nobody")
            self.assertEqual(by_uid["0"]["authz"], "deny:default")
            self.assertEqual(by_uid["0"]["result"], "denied")
            self.assertEqual(ug.metric("ugate_authz_decisions_total", listener="proxy", rule="only-nobody",
                                       decision="allow"), 1)

    def test_abstract_socket(self):
        server = Server(echo)
        self.addCleanup(server.close)
        name = f"@ugate-test-{os.getpid()}"
        listeners = f"[ {{ name: abstract, address: 'unix:{name}', protocol: tcp, forward: '127.0.0.1:{server.port}' }} ]"
        with Ugate(listeners) as ug:
            with unix_client(name) as c:
                c.sendall(b"hello abstract")
                c.shutdown(socket.SHUT_WR)
                got = b""
                while chunk := c.recv(100):
                    got += chunk
                self.assertEqual(got, b"hello abstract")
            self.assertEqual(os.listdir(self.dir), [], "an abstract socket has no file")
            ug.stop()
        with self.assertRaises(ConnectionRefusedError):
            unix_client(name)

    def test_socket_file_mode_owner_and_removal(self):
        sock = self.path("app.sock")
        owner = f", owner: {NOBODY.pw_name}, group: {NOGROUP.gr_name}" if os.getuid() == 0 else ""
        listeners = f"[ {{ name: app, address: 'unix:{sock}', protocol: tcp, forward: '127.0.0.1:9', mode: '0640'{owner} }} ]"
        with Ugate(listeners) as ug:
            st = os.lstat(sock)
            self.assertTrue(stat.S_ISSOCK(st.st_mode))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)
            if owner:
                self.assertEqual((st.st_uid, st.st_gid), (NOBODY.pw_uid, NOBODY.pw_gid))
            self.assertEqual(ug.stop(), 0)
        self.assertFalse(os.path.exists(sock), "removed at exit")
        # The default: the owner and group may connect, nobody else.
        with Ugate(f"[ {{ name: app, address: 'unix:{sock}', protocol: tcp, forward: '127.0.0.1:9' }} ]"):
            self.assertEqual(stat.S_IMODE(os.lstat(sock).st_mode), 0o660)

    def test_a_stale_socket_is_replaced_and_another_file_is_not(self):
        server = Server(echo)
        self.addCleanup(server.close)
        sock = self.path("app.sock")
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(sock)  # as a killed process leaves it: a socket file nobody listens on
        stale.close()
        listeners = f"[ {{ name: app, address: 'unix:{sock}', protocol: tcp, forward: '127.0.0.1:{server.port}' }} ]"
        with Ugate(listeners) as ug:
            with unix_client(sock) as c:
                c.sendall(b"x")
                self.assertEqual(c.recv(1), b"x")
            # A second process on the same path is refused: the first still listens there.
            with self.assertRaises(AssertionError) as e, Ugate(listeners):
                pass
            self.assertIn("another process is listening on it", str(e.exception))
            ug.stop(signal.SIGKILL)  # no clean exit: the file stays, stale
        self.assertTrue(os.path.exists(sock))
        with Ugate(listeners):
            with unix_client(sock) as c:
                c.sendall(b"y")
                self.assertEqual(c.recv(1), b"y")
        if os.path.exists(sock):
            os.unlink(sock)
        with open(sock, "w") as f:
            f.write("keep me")
        with self.assertRaises(AssertionError) as e, Ugate(listeners):
            pass
        self.assertIn("a file that is not a socket is in the way", str(e.exception))
        with open(sock) as f:
            self.assertEqual(f.read(), "keep me")

    def test_a_missing_unix_target_is_connect_refused(self):
        missing = self.path("nobody-here.sock")
        listeners = f"[ {{ name: to-missing, address: '127.0.0.1:0', protocol: tcp, forward: 'unix:{missing}' }} ]"
        with Ugate(listeners) as ug:
            try:  # the dial fails at once, and resets the client: maybe before connect() returns here
                with socket.create_connection(("127.0.0.1", ug.port("to-missing")), timeout=10) as c:
                    self.assertEqual(c.recv(1), b"")
            except ConnectionResetError:
                pass
            wait_until(lambda: access_fields(ug, lambda f: f["listener"] == "to-missing"), what="log line")
            [line] = access_fields(ug, lambda f: f["listener"] == "to-missing")
            self.assertEqual(line["result"], "connect_refused")
            self.assertEqual(ug.metric("ugate_listener_errors_total", listener="to-missing", reason="connect_refused"), 1)


if __name__ == "__main__":
    unittest.main()

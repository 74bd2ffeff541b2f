"""Node identity, the mini CA and mTLS on the mesh port, with real peers:
openssl (req, x509, s_client) and curl."""
import base64
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import unittest

from harness import UGATE, Server, Ugate, wait_until


def run(*args, check=True, text=True, **kw):
    r = subprocess.run(list(args), capture_output=True, text=text, timeout=30, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{args} exited {r.returncode}: {r.stderr}")
    return r


def echo(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


def csr(directory, name, spiffe=None):
    """A P-256 key and a CSR made by openssl req; (key path, csr path)."""
    key, req = os.path.join(directory, f"{name}.key"), os.path.join(directory, f"{name}.csr")
    args = ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", req, "-subj", f"/CN={name}"]
    if spiffe:
        args += ["-addext", f"subjectAltName=URI:{spiffe}"]
    run(*args)
    return key, req


def ca_sign(ca_dir, req, out, *extra):
    run(UGATE, "ca", "sign", "--dir", ca_dir, "--csr", req, "--out", out, *extra)
    return out


def s_client(port, cert=None, key=None, cafile=None, payload=b"", extra=()):
    """openssl s_client to the mesh port; (exit code, stdout+stderr)."""
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-quiet"] + list(extra)
    if cert:
        args += ["-cert", cert, "-key", key]
    if cafile:
        args += ["-CAfile", cafile]
    r = subprocess.run(args, input=payload, capture_output=True, timeout=30)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def node_id_of_key(key_path):
    """Node ID as DESIGN.md defines it, computed with openssl and Python only."""
    der = run("openssl", "pkey", "-in", key_path, "-pubout", "-outform", "DER", text=False).stdout
    point = der[-65:]  # a P-256 SubjectPublicKeyInfo ends with the uncompressed point
    assert point[0] == 4
    return base64.b32encode(hashlib.sha256(point).digest()).decode().lower().rstrip("="), point


class NodeIdentity(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ugate-id-")
        self.state = os.path.join(self.dir, "state")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_first_run_files_modes_and_ugate_id(self):
        r = run(UGATE, "--state-dir", self.state, "id")
        for f, mode in (("key.pem", 0o600), ("cert-chain.pem", 0o644), ("root-cert.pem", 0o644),
                        ("ca/ca-key.pem", 0o600)):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.state, f)).st_mode), mode, f)
        fields = dict(line.split(None, 1) for line in r.stdout.splitlines())
        node_id, point = node_id_of_key(os.path.join(self.state, "key.pem"))
        self.assertEqual(fields["node_id"], node_id)
        self.assertEqual(len(node_id), 52)
        self.assertEqual(fields["vip6"], str(__import__("ipaddress").IPv6Address(b"\xfd" + b"\0" * 7 + point[-8:])))
        host = socket.gethostname().lower()
        self.assertEqual(fields["spiffe_id"], f"spiffe://cluster.local/ns/default/sa/{host}")
        self.assertRegex(fields["expires"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 23h59m\)$")
        # A second run uses the same files: same node ID.
        again = json.loads(run(UGATE, "--state-dir", self.state, "id", "--json").stdout)
        self.assertEqual(again["node_id"], node_id)
        self.assertEqual(again["source"], "local CA")

    def test_certificate_shows_what_the_code_claims(self):
        cfg = os.path.join(self.dir, "c.yaml")
        with open(cfg, "w") as f:
            f.write("identity: { trust_domain: mesh.test, namespace: prod, name: web, dns: [web.example, web], cert_ttl: 2h }\n")
        run(UGATE, "--config", cfg, "--state-dir", self.state, "id")
        text = run("openssl", "x509", "-in", os.path.join(self.state, "cert-chain.pem"), "-noout", "-text").stdout
        self.assertRegex(text, r"X509v3 Subject Alternative Name: \n\s+URI:spiffe://mesh.test/ns/prod/sa/web, "
                               r"DNS:web.example, DNS:web")
        self.assertRegex(text, r"X509v3 Key Usage: critical\n\s+Digital Signature\n")
        self.assertRegex(text, r"X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication")
        self.assertRegex(text, r"X509v3 Basic Constraints: critical\n\s+CA:FALSE")
        self.assertIn("Signature Algorithm: ecdsa-with-SHA256", text)
        self.assertIn("NIST CURVE: P-256", text)
        dates = run("openssl", "x509", "-in", os.path.join(self.state, "cert-chain.pem"), "-noout", "-dates").stdout
        nb, na = (time.mktime(time.strptime(v.split("=", 1)[1], "%b %d %H:%M:%S %Y %Z"))
                  for v in dates.split("\n")[:2])
        self.assertLessEqual(abs((na - nb) - (2 * 3600 + 5 * 60)), 2, "2h, back-dated 5 min for clock skew")
        root = run("openssl", "x509", "-in", os.path.join(self.state, "root-cert.pem"), "-noout", "-text").stdout
        self.assertRegex(root, r"X509v3 Basic Constraints: critical\n\s+CA:TRUE")
        self.assertRegex(root, r"X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign")
        self.assertIn("Subject: O = mesh.test", root)
        run("openssl", "verify", "-CAfile", os.path.join(self.state, "root-cert.pem"),
            os.path.join(self.state, "cert-chain.pem"))

    def test_ca_init_and_sign_openssl_requests(self):
        ca = os.path.join(self.dir, "ca")
        run(UGATE, "ca", "init", "--dir", ca, "--trust-domain", "mesh.test")
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(ca, "ca-key.pem")).st_mode), 0o600)
        self.assertNotEqual(run(UGATE, "ca", "init", "--dir", ca, check=False).returncode, 0, "never over a CA")
        _, req = csr(self.dir, "n1", "spiffe://mesh.test/ns/default/sa/n1")
        out = ca_sign(ca, req, os.path.join(self.dir, "n1.crt"), "--ttl", "1h")
        run("openssl", "verify", "-CAfile", os.path.join(ca, "root-cert.pem"), out)
        text = run("openssl", "x509", "-in", out, "-noout", "-text").stdout
        self.assertIn("URI:spiffe://mesh.test/ns/default/sa/n1", text)
        # A request without a SPIFFE ID gets one from --name; another trust domain is refused.
        _, plain = csr(self.dir, "n2")
        text = run("openssl", "x509", "-noout", "-text", input=run(UGATE, "ca", "sign", "--dir", ca, "--csr", plain,
                                                                   "--name", "n2", "--namespace", "ops").stdout).stdout
        self.assertIn("URI:spiffe://mesh.test/ns/ops/sa/n2", text)
        _, foreign = csr(self.dir, "n3", "spiffe://other.test/ns/default/sa/n3")
        r = run(UGATE, "ca", "sign", "--dir", ca, "--csr", foreign, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("outside this CA's trust domain mesh.test", r.stderr)

    def test_existing_files_are_used_as_they_are(self):
        ca = os.path.join(self.dir, "istio-ca")
        run(UGATE, "ca", "init", "--dir", ca, "--trust-domain", "istio.test")
        os.makedirs(self.state)
        key, req = csr(self.dir, "w", "spiffe://istio.test/ns/prod/sa/web")
        shutil.copy(key, os.path.join(self.state, "key.pem"))
        os.chmod(os.path.join(self.state, "key.pem"), 0o600)
        ca_sign(ca, req, os.path.join(self.state, "cert-chain.pem"))
        shutil.copy(os.path.join(ca, "root-cert.pem"), os.path.join(self.state, "root-cert.pem"))
        out = json.loads(run(UGATE, "--state-dir", self.state, "id", "--json").stdout)
        self.assertEqual(out["spiffe_id"], "spiffe://istio.test/ns/prod/sa/web")
        self.assertEqual(out["source"], "files")
        self.assertFalse(os.path.exists(os.path.join(self.state, "ca")), "no CA of its own beside mounted files")


class MeshPort(unittest.TestCase):
    """The mesh port as an mTLS-terminating forwarder to an echo server."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ugate-mesh-")
        self.echo = Server(echo)
        self.ug = Ugate(f"[ {{ name: mesh, address: '127.0.0.1:0', protocol: mesh, "
                        f"handshake_timeout: 1s, forward: '127.0.0.1:{self.echo.port}' }} ]",
                        extra_yaml="identity: { name: gw, dns: [localhost] }")
        self.ug.start()
        self.port = self.ug.port("mesh")
        self.ca = os.path.join(self.ug.dir, "state", "ca")
        self.root = os.path.join(self.ug.dir, "state", "root-cert.pem")

    def tearDown(self):
        self.ug.__exit__()
        self.echo.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client_cert(self, name, *extra):
        key, req = csr(self.dir, name, f"spiffe://cluster.local/ns/default/sa/{name}")
        return ca_sign(self.ca, req, os.path.join(self.dir, f"{name}.crt"), *extra), key

    def errors(self, reason):
        return self.ug.metric("ugate_listener_errors_total", listener="mesh", reason=reason)

    def test_refused_without_certificate_from_another_ca_and_expired(self):
        rc, out = s_client(self.port, cafile=self.root, payload=b"hi\n")
        self.assertIn("certificate required", out)
        wait_until(lambda: self.errors("no_client_cert") == 1, what="no_client_cert counted")
        other = os.path.join(self.dir, "other-ca")
        run(UGATE, "ca", "init", "--dir", other)
        key, req = csr(self.dir, "stranger", "spiffe://cluster.local/ns/default/sa/stranger")
        cert = ca_sign(other, req, os.path.join(self.dir, "stranger.crt"))
        rc, out = s_client(self.port, cert, key, self.root, b"hi\n")
        self.assertIn("unknown ca", out)
        wait_until(lambda: self.errors("cert_rejected") == 1, what="cert_rejected counted")
        cert, key = self.client_cert("late", "--ttl", "1s")
        time.sleep(2.1)
        rc, out = s_client(self.port, cert, key, self.root, b"hi\n")
        self.assertIn("certificate expired", out)
        wait_until(lambda: self.errors("cert_rejected") == 2, what="expired cert counted")
        self.assertEqual(self.ug.metric("ugate_listener_streams_total", listener="mesh", mode="copy"), 0,
                         "nothing refused reached the upstream")
        self.assertTrue(self.ug.ready())

    def test_ca_signed_client_is_forwarded_and_its_spiffe_id_shows(self):
        cert, key = self.client_cert("client")
        p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-quiet", "-no_ign_eof",
                              "-cert", cert, "-key", key, "-CAfile", self.root, "-verify_return_error"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            p.stdin.write(b"ping\n")
            p.stdin.flush()
            self.assertEqual(p.stdout.readline(), b"ping\n")
            streams = json.loads(self.ug.get("/debug/streams")[1])
            self.assertEqual(len(streams), 1)
            self.assertEqual(streams[0]["peer_spiffe"], "spiffe://cluster.local/ns/default/sa/client")
            self.assertEqual(streams[0]["peer_node"], node_id_of_key(key)[0])
            self.assertEqual(streams[0]["phase"], "proxying")
        finally:
            p.stdin.close()
            p.wait(10)
        self.ug.stop()
        line = [l for l in self.ug.access_lines() if "protocol=mesh" in l][0]
        self.assertIn("peer_spiffe=spiffe://cluster.local/ns/default/sa/client", line)
        self.assertIn("result=done", line)

    def test_slow_handshake_is_cut_and_counted(self):
        with socket.create_connection(("127.0.0.1", self.port)) as c:
            c.sendall(b"\x16\x03\x01")  # a ClientHello that never comes
            c.settimeout(5)
            start = time.monotonic()
            try:
                c.recv(1)
            except ConnectionResetError:
                pass
            self.assertLess(time.monotonic() - start, 3)
        wait_until(lambda: self.errors("tls_timeout") == 1, what="tls_timeout counted")
        with socket.create_connection(("127.0.0.1", self.port)) as c:
            c.sendall(b"GET / HTTP/1.1\r\n\r\n")
            c.settimeout(5)
            try:
                c.recv(100)
            except ConnectionResetError:
                pass
        wait_until(lambda: self.errors("tls_failed") == 1, what="tls_failed counted")

    def test_bootstrap_token_works_once(self):
        token = run(UGATE, "ca", "token", "--dir", self.ca, "--name", "n7").stdout.strip()
        _, req = csr(self.dir, "n7")

        def curl(tok):
            return run("curl", "-s", "--http1.1", "--cacert", self.root, "-H", f"Authorization: Bearer {tok}",
                       "--data-binary", f"@{req}", "-w", "\n%{http_code}", f"https://localhost:{self.port}/ca/sign")

        first = curl(token).stdout
        body, code = first.rsplit("\n", 1)
        self.assertEqual(code, "200", first)
        chain = json.loads(body)["cert_chain"]
        text = run("openssl", "x509", "-noout", "-text", input=chain).stdout
        self.assertIn("URI:spiffe://cluster.local/ns/default/sa/n7, DNS:n7", text)
        again = curl(token).stdout
        self.assertTrue(again.endswith("\n401"), again)
        self.assertIn("unknown, used or expired token", again)
        self.assertTrue(curl("x" * 32).stdout.endswith("\n401"))
        self.assertEqual(self.ug.metric("ugate_ca_requests_total", result="issued"), 1)
        self.assertEqual(self.ug.metric("ugate_ca_requests_total", result="refused"), 2)
        wait_until(lambda: self.errors("denied") == 2, what="refused requests counted as denied")


class Rotation(unittest.TestCase):
    def test_short_lifetime_renews_and_open_streams_are_unharmed(self):
        echo_server = Server(echo)
        d = tempfile.mkdtemp(prefix="ugate-rot-")
        with Ugate(f"[ {{ name: mesh, address: '127.0.0.1:0', protocol: mesh, forward: '127.0.0.1:{echo_server.port}' }} ]",
                   extra_yaml="identity: { cert_ttl: 4s }") as ug:
            port = ug.port("mesh")
            state = os.path.join(ug.dir, "state")
            key, req = csr(d, "c", "spiffe://cluster.local/ns/default/sa/c")
            cert = ca_sign(os.path.join(state, "ca"), req, os.path.join(d, "c.crt"))
            root = os.path.join(state, "root-cert.pem")

            def server_serial():
                r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-cert", cert, "-key", key,
                                    "-CAfile", root], input=b"", capture_output=True, timeout=20)
                pem = re.search(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", r.stdout, re.S).group(0)
                return run("openssl", "x509", "-noout", "-serial", input=pem.decode()).stdout

            first = server_serial()
            p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-quiet", "-no_ign_eof",
                                  "-cert", cert, "-key", key, "-CAfile", root], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
            try:
                p.stdin.write(b"before\n")
                p.stdin.flush()
                self.assertEqual(p.stdout.readline(), b"before\n")
                wait_until(lambda: ug.metric("ugate_identity_renewals_total", result="ok") >= 2, timeout=15,
                           what="two renewals")
                self.assertNotEqual(server_serial(), first, "new connections get the new certificate")
                p.stdin.write(b"after\n")
                p.stdin.flush()
                self.assertEqual(p.stdout.readline(), b"after\n", "the stream opened before is unharmed")
            finally:
                p.stdin.close()
                p.wait(10)
            expiry = ug.metric("ugate_identity_cert_expiry_timestamp_seconds")
            self.assertGreater(expiry, time.time())
            self.assertLess(expiry, time.time() + 5)
            self.assertIn("identity: renewed spiffe://", ug.log())
        echo_server.close()
        shutil.rmtree(d, ignore_errors=True)


class SniTerminate(unittest.TestCase):
    """tls-sni routes that terminate: the certificate is chosen by SNI, the upstream gets plaintext."""

    def test_certificate_by_sni_and_plaintext_upstream(self):
        d = tempfile.mkdtemp(prefix="ugate-term-")
        key, cert = os.path.join(d, "a.key"), os.path.join(d, "a.crt")
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", cert, "-subj", "/CN=a.test", "-days", "1")
        received = []

        def record(conn):
            data = conn.recv(100)
            received.append(data)
            conn.sendall(b"plain:" + data)

        backend = Server(record)
        routes = (f"[ {{ sni: a.test, forward: '127.0.0.1:{backend.port}', terminate: {{ cert: '{cert}', key: '{key}' }} }}, "
                  f"{{ sni: n.test, forward: '127.0.0.1:{backend.port}', terminate: node }} ]")
        with Ugate(f"[ {{ name: sni, address: '127.0.0.1:0', protocol: tls-sni, routes: {routes} }} ]",
                   extra_yaml="identity: { name: gw }") as ug:
            port = ug.port("sni")
            r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "a.test",
                                "-CAfile", cert, "-verify_return_error", "-quiet"],
                               input=b"hello", capture_output=True, timeout=20)
            self.assertIn(b"plain:hello", r.stdout, r.stderr)
            self.assertEqual(received, [b"hello"])
            root = os.path.join(ug.dir, "state", "root-cert.pem")
            r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "n.test",
                                "-CAfile", root, "-verify_return_error", "-ign_eof"], input=b"x", capture_output=True, timeout=20)
            self.assertIn(b"subject=O = cluster.local, CN = gw", r.stdout, "the node's own certificate")
            self.assertIn(b"plain:x", r.stdout)
            ug.stop()
            lines = [l for l in ug.access_lines() if "sni=a.test" in l]
            self.assertIn("result=done", lines[0])
            self.assertIn("mode=copy", lines[0])
        backend.close()
        shutil.rmtree(d, ignore_errors=True)


class RemoteCa(unittest.TestCase):
    """A node gets its first certificate from a gateway's CA with a one-time
    token, then renews it over mTLS before it expires."""

    def test_bootstrap_then_renewal(self):
        with Ugate("[ { name: mesh, address: '127.0.0.1:0', protocol: mesh } ]",
                   extra_yaml="identity: { name: gw, cert_ttl: 6s }") as gw:
            gw_port = gw.port("mesh")
            state = os.path.join(gw.dir, "state")
            token = run(UGATE, "ca", "token", "--dir", os.path.join(state, "ca"), "--name", "n1").stdout.strip()
            ident = (f"identity: {{ cert_ttl: 6s, ca: {{ address: '127.0.0.1:{gw_port}', token: {token}, "
                     f"root: '{state}/root-cert.pem' }} }}")
            with Ugate("[ { name: mesh, address: '127.0.0.1:0', protocol: mesh } ]", extra_yaml=ident) as node:
                out = json.loads(run(UGATE, "--config", node.config, "id", "--json").stdout)
                self.assertEqual(out["spiffe_id"], "spiffe://cluster.local/ns/default/sa/n1")
                self.assertEqual(out["source"], "remote CA")
                self.assertNotIn("chain_problem", out)
                wait_until(lambda: node.metric("ugate_identity_renewals_total", result="ok") >= 1, timeout=15,
                           what="a renewal over mTLS")
                self.assertGreaterEqual(gw.metric("ugate_ca_requests_total", result="issued"), 2)
                self.assertIn("ca: issued spiffe://cluster.local/ns/default/sa/n1 (renewal)", gw.log())
                # The token is spent: a second node cannot use it.
                with Ugate("[]", extra_yaml=ident.replace("cert_ttl: 6s", "name: n2")) as other:
                    r = run(UGATE, "--config", other.config, "id", check=False)
                    self.assertEqual(r.returncode, 1)
                    self.assertIn("refused (401): unknown, used or expired token", r.stderr)


class Authorization(unittest.TestCase):
    """Rules on the mesh port: a denied identity is refused and counted; the
    default admits the node's own trust domain only, even from a trusted root."""

    def test_denied_identity_and_foreign_trust_domain(self):
        d = tempfile.mkdtemp(prefix="ugate-authz-")
        other = os.path.join(d, "other-ca")
        run(UGATE, "ca", "init", "--dir", other, "--trust-domain", "other.test")
        echo_server = Server(echo)
        state = None
        rules = ("authorization:\n  rules:\n"
                 "    - { name: no-blocked, action: deny, from: { spiffe: '*/sa/blocked' }, door: mesh }\n")
        with Ugate(f"[ {{ name: mesh, address: '127.0.0.1:0', protocol: mesh, forward: '127.0.0.1:{echo_server.port}' }} ]",
                   extra_yaml=rules) as ug:
            port = ug.port("mesh")
            state = os.path.join(ug.dir, "state")
            root = os.path.join(state, "root-cert.pem")

            def client(ca_dir, name, td="cluster.local"):
                key, req = csr(d, name, f"spiffe://{td}/ns/default/sa/{name}")
                return ca_sign(ca_dir, req, os.path.join(d, f"{name}.crt")), key

            cert, key = client(os.path.join(state, "ca"), "blocked")
            rc, out = s_client(port, cert, key, root, b"hi\n")
            self.assertNotIn("hi", out.replace("verify", ""))
            wait_until(lambda: ug.metric("ugate_listener_errors_total", listener="mesh", reason="denied") == 1,
                       what="denied counted")
            self.assertEqual(ug.metric("ugate_authz_decisions_total", listener="mesh", rule="no-blocked",
                                       decision="deny"), 1)
            cert, key = client(os.path.join(state, "ca"), "fine")
            p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-quiet", "-no_ign_eof",
                                  "-cert", cert, "-key", key, "-CAfile", root],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            p.stdin.write(b"hi\n")
            p.stdin.flush()
            self.assertEqual(p.stdout.readline(), b"hi\n")
            p.stdin.close()
            p.wait(10)
            self.assertEqual(ug.metric("ugate_authz_decisions_total", listener="mesh", rule="default",
                                       decision="allow"), 1)
            ug.stop()
            lines = ug.access_lines()
            self.assertTrue(any("sa/blocked" in l and "authz=deny:no-blocked" in l and "result=denied" in l
                                for l in lines), lines)
            self.assertTrue(any("sa/fine" in l and "authz=allow:default" in l for l in lines), lines)
        # Federation: another domain's root is trusted, its peers still need a rule.
        roots = f"roots: ['{state}/ca/root-cert.pem', '{other}/root-cert.pem']"
        with Ugate(f"[ {{ name: mesh, address: '127.0.0.1:0', protocol: mesh, forward: '127.0.0.1:{echo_server.port}' }} ]",
                   extra_yaml=f"identity: {{ {roots} }}") as ug:
            port = ug.port("mesh")
            key, req = csr(d, "partner", "spiffe://other.test/ns/default/sa/partner")
            cert = ca_sign(other, req, os.path.join(d, "partner.crt"))
            rc, out = s_client(port, cert, key, None, b"hi\n")
            wait_until(lambda: ug.metric("ugate_authz_decisions_total", listener="mesh", rule="default",
                                         decision="deny") == 1, what="default deny for another trust domain")
            self.assertEqual(ug.metric("ugate_listener_errors_total", listener="mesh", reason="cert_rejected"), 0,
                             "the certificate itself was fine")
        echo_server.close()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()

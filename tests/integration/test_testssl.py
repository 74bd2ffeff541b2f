"""ugate's TLS surfaces scanned by testssl.sh (Debian package testssl.sh, offline): the mesh port, a
tls-sni route that terminates, the push service. Fails on any finding above LOW, and on any check
testssl could not run (WARN, FATAL), unless ALLOWED lists it with its reason; an entry that no
longer occurs fails too; and on a protocol or cipher category offered that NOT_OFFERED names
(testssl rates some of them only LOW). docs/security/README.md has the triage and the full reports.

    UGATE_BIN=$PWD/build/release/apps/ugate/ugate python3 tests/integration/test_testssl.py --reports docs/security

runs the full default scan of each surface on the same set-up and writes the reports there.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from harness import UGATE, Server, Ugate

TESTSSL = shutil.which("testssl") or "/usr/bin/testssl"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

# Offline: no DNS (--ip names the address, the URI's name is the SNI), no CRL/OCSP fetches (those need
# --phone-out). A scan is bounded as a whole (Surfaces.scan), not each openssl in it: --openssl-timeout
# puts coreutils' timeout between testssl and the openssl it kills, which once left a scan hanging.
OFFLINE = ["--quiet", "--color", "0", "--warnings", "batch", "--nodns", "none", "--ip", "127.0.0.1",
           "--connect-timeout", "10"]
# The check groups the test runs (a full run takes minutes): protocols, cipher categories, forward
# secrecy, the server's cipher order, server defaults (certificate, tickets, extensions) and every
# vulnerability check; -h (HTTP headers) on the HTTP service only. Left out: -e (each cipher: -s and
# -f judge the same list) and -c (client simulations, information only).
GROUPS = ["-p", "-s", "-f", "-P", "-S", "-U"]
# What no surface may offer, whatever severity testssl gives it (TLS 1.0 and 1.1, and CBC ciphers
# (cipherlist_AVERAGE), it rates only LOW): the protocols and cipher categories public_server_policy
# and the mesh port's TLS 1.3 leave out.
NOT_OFFERED = ["SSLv2", "SSLv3", "TLS1", "TLS1_1", "cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT",
               "cipherlist_LOW", "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"]
# Seconds from a scan's start to its end, the three side by side (ctest gives the class 300 s).
SCAN_TIMEOUT = 240
ABOVE_LOW = {"MEDIUM", "HIGH", "CRITICAL", "WARN", "FATAL"}

# (surface, testssl finding id) -> why it stays. Keep it small: each entry is triaged in
# docs/security/README.md.
ALLOWED = {
    ("mesh", "cert_expirationStatus"):
        "mesh certificates are short-lived by design (identity.cert_ttl, 24h by default) and renewed "
        "at half their life without a restart, as Istio's are; testssl warns below 30 days",
    ("mesh", "cert_notAfter"):
        "the same expiry as cert_expirationStatus, reported as the date",
    ("mesh", "cert_revocation"):
        "the mesh CA issues short-lived certificates instead of publishing CRLs or running OCSP "
        "(SPIFFE/Istio practice): a node's certificate ends within cert_ttl; peers are "
        "authorised by SPIFFE ID, and a node is cut off by an authorization rule",
    ("push", "security_headers"):
        "X-Frame-Options, CSP and X-Content-Type-Options govern how a browser renders a document; "
        "the push service answers programs (application servers, `ugate push`) with JSON or "
        "nothing, and serves no document to frame or sniff",
}

# testssl.sh 3.0 has no --mtls: this openssl hands the scanner's mesh certificate to every
# s_client, so the mesh port's handshakes finish as a peer's would (TLS 1.3 asks for the client
# certificate after the server's whole flight, so a scan without one sees the same server).
MTLS_OPENSSL = """#!/bin/sh
if [ "$1" = s_client ]; then shift; exec {openssl} s_client -cert {cert} -key {key} "$@"; fi
exec {openssl} "$@"
"""


def run(*args):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"{args} exited {r.returncode}: {r.stderr}")
    return r.stdout


def hang_up(conn):
    """The mesh port's upstream: takes what the client sent first, then closes, so that each of
    testssl's clients ends at once (its service detection would otherwise wait 5 s for an answer)."""
    conn.recv(65536)


class Scan:
    """One testssl run in the background."""

    def __init__(self, surface, proc, out, json_file, log_file, started):
        self.surface, self.proc, self.out, self.json_file, self.log_file = surface, proc, out, json_file, log_file
        self.started = started

    def finish(self, timeout):
        """Waits until `timeout` seconds after the start: (findings, seconds)."""
        try:
            self.proc.wait(max(0.0, self.started + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"testssl on the {self.surface} surface took more than {timeout} s "
                                 f"(log: {self.log_file})")
        took = time.monotonic() - self.started
        self.out.seek(0)
        out = self.out.read()
        self.out.close()
        if not os.path.exists(self.json_file):
            raise AssertionError(f"testssl exited {self.proc.returncode} without a report:\n{out}")
        with open(self.json_file) as f:
            return json.load(f), took

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.out.close()


class Surfaces:
    """One ugate with the three TLS listeners on loopback, and what testssl needs to scan each."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ugate-testssl-")
        self.sink = Server(hang_up)
        ca_key, self.web_ca = self.path("web-ca.key"), self.path("web-ca.pem")
        # The certificates of the terminating route and the push service come from an operator's CA,
        # as a public CA issues them: 90 days, serverAuth, a CRL distribution point. RSA on the
        # route (RSA key transport would show there), P-256 on the push service.
        run(OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", ca_key, "-out", self.web_ca, "-subj", "/O=ugate test/CN=web test root", "-days", "400",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        web = self.leaf("web.test", ["-newkey", "rsa:2048"], ca_key)
        push = self.leaf("push.test", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], ca_key)
        sink = f"127.0.0.1:{self.sink.port}"
        terminate = f"{{ cert: '{web[0]}', key: '{web[1]}', alpn: [http/1.1] }}"
        # The default route terminates with the same certificate: testssl runs some checks without
        # SNI (secure renegotiation), which a tls-sni listener answers only through its default.
        self.ug = Ugate(
            f"[ {{ name: mesh, address: '127.0.0.1:0', protocol: mesh, forward: '{sink}' }}, "
            f"{{ name: sni, address: '127.0.0.1:0', protocol: tls-sni, routes: ["
            f"{{ sni: web.test, forward: '{sink}', terminate: {terminate} }}, "
            f"{{ forward: '{sink}', terminate: {terminate} }} ] }}, "
            f"{{ name: push, address: '127.0.0.1:0', protocol: webpush, "
            f"tls: {{ cert: '{push[0]}', key: '{push[1]}' }} }} ]",
            extra_yaml="identity: { name: gw, dns: [localhost] }", workers=1)
        self.ug.start()
        state = os.path.join(self.ug.dir, "state")
        key, req, cert = self.path("scanner.key"), self.path("scanner.csr"), self.path("scanner.crt")
        run(OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", req, "-subj", "/CN=scanner", "-addext", "subjectAltName=URI:spiffe://cluster.local/ns/default/sa/scanner")
        run(UGATE, "ca", "sign", "--dir", os.path.join(state, "ca"), "--csr", req, "--out", cert)
        self.mtls_openssl = self.path("openssl-mtls")
        with open(self.mtls_openssl, "w") as f:
            f.write(MTLS_OPENSSL.format(openssl=OPENSSL, cert=cert, key=key))
        os.chmod(self.mtls_openssl, 0o755)
        # surface -> (listener, name for SNI and the certificate check, CA to trust, openssl, extra groups)
        self.surfaces = {
            "mesh": ("mesh", "localhost", os.path.join(state, "root-cert.pem"), self.mtls_openssl, []),
            "terminate": ("sni", "web.test", self.web_ca, OPENSSL, []),
            "push": ("push", "push.test", self.web_ca, OPENSSL, ["-h"]),
        }

    def path(self, name):
        return os.path.join(self.dir, name)

    def leaf(self, name, newkey, ca_key):
        key, req, crt, ext = (self.path(f"{name}.{e}") for e in ("key", "csr", "crt", "ext"))
        with open(ext, "w") as f:
            f.write(f"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                    f"extendedKeyUsage=serverAuth\nsubjectAltName=DNS:{name}\n"
                    f"crlDistributionPoints=URI:http://crl.web.test/root.crl\n")
        run(OPENSSL, "req", "-new", *newkey, "-nodes", "-keyout", key, "-out", req, "-subj", f"/CN={name}")
        run(OPENSSL, "x509", "-req", "-in", req, "-CA", self.web_ca, "-CAkey", ca_key, "-CAserial",
            self.path("web-ca.srl"), "-CAcreateserial", "-days", "90", "-extfile", ext, "-out", crt)
        return crt, key

    def command(self, surface, groups, json_file, log_file):
        """The testssl command line for a surface (groups: [] for the full default run)."""
        listener, name, ca, openssl, extra = self.surfaces[surface]
        return [TESTSSL, *OFFLINE, "--openssl", openssl, "--add-ca", ca, "--jsonfile", json_file,
                "--logfile", log_file, *groups, *(extra if groups else []), f"{name}:{self.ug.port(listener)}"]

    def start_scan(self, surface, groups, json_file, log_file):
        """Starts testssl on a surface, in the background: the Scan to finish()."""
        for f in (json_file, log_file):  # testssl refuses to write over a file
            if os.path.exists(f):
                os.unlink(f)
        # Its output to a file, not a pipe: scans run side by side and nobody reads a pipe meanwhile.
        out = open(self.path(f"{surface}.out"), "w+")
        # Its own session, so that a scan over time ends with every openssl it started.
        # NO_ENGINE: testssl looks for OpenSSL's GOST engine and, where the scanning machine's openssl
        # has none, reports a WARN about that openssl (engine_problem), not about the surface; GOST is
        # no cipher a ugate surface offers.
        p = subprocess.Popen(self.command(surface, groups, json_file, log_file), stdin=subprocess.DEVNULL,
                             stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                             env={**os.environ, "NO_ENGINE": "true"})
        return Scan(surface, p, out, json_file, log_file, time.monotonic())

    def close(self):
        self.ug.__exit__()
        self.sink.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class TestsslScan(unittest.TestCase):
    """testssl.sh against each surface. The three scans run side by side, started together: each
    spends most of its time waiting on its openssl processes and sockets, not computing, and one
    after the other they took 4.5 minutes on a busy 2-core machine."""

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(TESTSSL):
            raise AssertionError("testssl.sh (Debian package testssl.sh) is needed: scripts/install-deps.sh")
        cls.s = Surfaces()
        cls.out = os.path.join(os.environ.get("UGATE_ARTIFACT_DIR") or cls.s.dir, "testssl")
        os.makedirs(cls.out, exist_ok=True)
        cls.scans = {}
        for surface in cls.s.surfaces:
            prefix = os.path.join(cls.out, surface)
            cls.scans[surface] = cls.s.start_scan(surface, GROUPS, prefix + ".json", prefix + ".txt")

    @classmethod
    def tearDownClass(cls):
        for scan in cls.scans.values():
            scan.kill()
        cls.s.close()

    def check(self, surface):
        findings, took = self.scans[surface].finish(timeout=SCAN_TIMEOUT)
        print(f"\n{surface}: {len(findings)} findings in {took:.0f} s", file=sys.stderr)
        above = {f["id"]: f for f in findings if f["severity"] in ABOVE_LOW}
        unexpected = [f"{f['severity']} {i}: {f['finding']}" for i, f in above.items() if (surface, i) not in ALLOWED]
        self.assertEqual(unexpected, [], f"testssl findings above LOW on the {surface} surface "
                                         f"(report: {self.out}/{surface}.txt)")
        stale = [i for (s, i) in ALLOWED if s == surface and i not in above]
        self.assertEqual(stale, [], "allowed findings that no longer occur: take them out of ALLOWED")
        # The scan saw the surface at all (a refused connection reports little, and nothing above LOW).
        found = {f["id"]: f for f in findings}
        self.assertIn("TLS1_3", found)
        self.assertIn("cert_chain_of_trust", found)
        offered = [f"{i}: {found.get(i, {}).get('finding', 'not in the report')}" for i in NOT_OFFERED
                   if found.get(i, {}).get("finding") != "not offered"]
        self.assertEqual(offered, [], f"offered on the {surface} surface (report: {self.out}/{surface}.txt)")
        return found

    def test_mesh_port(self):
        found = self.check("mesh")
        self.assertEqual(found["TLS1_2"]["finding"], "not offered", "the mesh port is TLS 1.3 only")

    def test_tls_sni_terminate(self):
        found = self.check("terminate")
        self.assertEqual(found["secure_renego"]["severity"], "OK")
        self.assertEqual(found["cipher_order"]["finding"], "server")

    def test_push_service(self):
        found = self.check("push")
        self.assertEqual(found["cipher_order"]["severity"], "OK")


def write_reports(directory):
    """The full default scan of each surface (every check group but -E and -g), side by side: its
    text to DIRECTORY/testssl-SURFACE.txt; the JSON (40 KiB each) stays in a temporary directory."""
    s = Surfaces()
    scans = []
    try:
        os.makedirs(directory, exist_ok=True)
        for surface in s.surfaces:
            args = (surface, [], s.path(f"{surface}.json"), os.path.join(directory, f"testssl-{surface}.txt"))
            print(" ".join(s.command(*args)), file=sys.stderr)
            scans.append(s.start_scan(*args))
        for scan in scans:
            findings, took = scan.finish(timeout=900)
            above = sorted(f"{f['severity']} {f['id']}" for f in findings if f["severity"] in ABOVE_LOW | {"LOW"})
            print(f"{scan.surface}: {took:.0f} s; LOW and above: {above}", file=sys.stderr)
    finally:
        for scan in scans:
            scan.kill()
        s.close()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--reports":
        write_reports(sys.argv[2])
    else:
        unittest.main()

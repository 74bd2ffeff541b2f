"""The node's STUN/TURN client (src/stun/client*): against coturn's turnserver
and against ugate's own server. The server-reflexive address and RFC 5780's
mapping behaviour in `ugate id --json` and in a running node's /debug/nodes;
`ugate turn-probe` allocating a relay, permitting turnutils_peer and getting
its echo back, with long-term and REST credentials, Send indications and
channels; a wrong password and a silent server fail clearly and in bounded time."""
import json
import os
import random
import shutil
import socket
import subprocess
import time
import unittest

from harness import UGATE, Ugate, temp_dir, wait_until
from test_stun import free_udp_port, stun_yaml
from test_turn import REALM_NAME, SECRET, Peer, turn_yaml


def udp_port_taken(host, port):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((host, port))
        return False
    except OSError:
        return True
    finally:
        probe.close()


def free_port_pair():
    """A port P with P and P+1 free on 127.0.0.1 and 127.0.0.2, UDP and TCP (coturn's RFC 5780 sockets)."""
    for _ in range(50):
        port = random.randint(20000, 30000)
        ok = True
        for host in ("127.0.0.1", "127.0.0.2"):
            for p in (port, port + 1):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    try:
                        s.bind((host, p))
                    except OSError:
                        ok = False
                    finally:
                        s.close()
        if ok:
            return port
    raise AssertionError("no free port pair")


class Coturn:
    """coturn's turnserver on 127.0.0.1 and 127.0.0.2 (so it offers RFC 5780), loopback peers allowed."""

    def __init__(self, test, rest=False):
        exe = shutil.which("turnserver")
        assert exe, "turnserver (Debian package coturn) is needed: scripts/install-deps.sh"
        self.dir = temp_dir("coturn-")
        self.port = free_port_pair()
        relay = random.randint(31000, 32500)
        creds = ["--use-auth-secret", "--static-auth-secret", SECRET] if rest else ["-a", "-u", "alice:wonderland"]
        self.log_path = os.path.join(self.dir, "turnserver.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [exe, "-n", "-L", "127.0.0.1", "-L", "127.0.0.2", "-p", str(self.port), "-E", "127.0.0.1",
             "--min-port", str(relay), "--max-port", str(relay + 200), "-r", REALM_NAME, *creds,
             "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--pidfile", os.path.join(self.dir, "pid"),
             "--db", os.path.join(self.dir, "turndb"), "--log-file", "stdout", "--simple-log"],
            stdout=self.log, stderr=subprocess.STDOUT)
        test.addCleanup(self.stop)
        wait_until(lambda: self.proc.poll() is not None or
                   (udp_port_taken("127.0.0.1", self.port) and udp_port_taken("127.0.0.2", self.port + 1)),
                   what="turnserver bound")
        assert self.proc.poll() is None, self.output()

    def output(self):
        with open(self.log_path) as f:
            return f.read()[-3000:]

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()


def ugate_cli(*args, timeout=30):
    started = time.monotonic()
    r = subprocess.run([UGATE, *args], capture_output=True, text=True, timeout=timeout)
    return r, time.monotonic() - started


def identity_json(test, servers):
    """`ugate id --json` with a stun_client section naming `servers`."""
    ug = Ugate(extra_yaml="stun_client: { servers: [" + ", ".join(f"'{s}'" for s in servers) + "] }")
    r, took = ugate_cli("--config", ug.config, "id", "--json")
    test.assertEqual(r.returncode, 0, r.stderr)
    return json.loads(r.stdout)["stun_client"], took


def turn_probe(server, *args):
    r, took = ugate_cli("turn-probe", server, "--json", "--timeout", "3s", *args)
    try:
        return r.returncode, json.loads(r.stdout), took
    except json.JSONDecodeError:
        return r.returncode, {"stdout": r.stdout, "stderr": r.stderr}, took


class StunClientReflexive(unittest.TestCase):
    """The server-reflexive address and the NAT's mapping behaviour."""

    def test_coturn_gives_the_reflexive_address_and_rfc5780_mapping(self):
        coturn = Coturn(self)
        stun, _ = identity_json(self, [f"127.0.0.1:{coturn.port}"])
        self.assertTrue(stun["reflexive"].startswith("127.0.0.1:"), stun)
        self.assertFalse(stun["behind_nat"], stun)  # loopback: the mapped address is ours
        server = stun["servers"][0]
        self.assertTrue(server["rfc5780"], stun)
        self.assertEqual(server["reflexive"], server["local"], stun)
        # Tests I and II saw the same mapping: no NAT is an endpoint-independent one.
        self.assertEqual(stun["nat"], "endpoint-independent", stun)

    def test_ugates_own_rfc5780_server(self):
        other = free_udp_port("127.0.0.2")
        with Ugate(stun_yaml(extra=f", other_address: '127.0.0.2:{other}'")) as server:
            stun, _ = identity_json(self, [f"127.0.0.1:{server.port('s')}"])
        self.assertTrue(stun["reflexive"].startswith("127.0.0.1:"), stun)
        self.assertEqual(stun["nat"], "endpoint-independent", stun)
        self.assertTrue(stun["servers"][0]["rfc5780"], stun)

    def test_a_server_without_rfc5780_gives_the_address_and_an_unknown_mapping(self):
        with Ugate(stun_yaml()) as server:
            stun, _ = identity_json(self, [f"127.0.0.1:{server.port('s')}"])
        self.assertTrue(stun["reflexive"].startswith("127.0.0.1:"), stun)
        self.assertEqual(stun["nat"], "unknown", stun)
        self.assertIn("RFC 5780", stun["servers"][0]["error"], stun)

    def test_a_silent_server_is_given_up_in_bounded_time(self):
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        self.addCleanup(silent.close)
        stun, took = identity_json(self, [f"127.0.0.1:{silent.getsockname()[1]}"])
        self.assertIsNone(stun["reflexive"], stun)
        self.assertIn("no answer", stun["servers"][0]["error"], stun)
        self.assertLess(took, 10, "RTO 100 ms, Rc 4, Rm 8: 1.5 s per question")
        # It retransmitted as RFC 8489 section 6.2.1 says: Rc = 4 copies of one request.
        silent.settimeout(0.2)
        got = []
        try:
            while len(got) < 10:
                got.append(silent.recv(2048))
        except socket.timeout:
            pass
        self.assertEqual(len(got), 4, got)
        self.assertEqual(len({g[8:20] for g in got}), 1, "one transaction, retransmitted")

    def test_a_running_node_shows_it_in_debug_nodes(self):
        coturn = Coturn(self)
        with Ugate(extra_yaml=f"stun_client: {{ servers: ['127.0.0.1:{coturn.port}'], interval: 1s }}") as ug:
            def learnt():
                self.nodes = json.loads(ug.get("/debug/nodes")[1])["self"]
                return self.nodes.get("rounds", 0) >= 2 and self.nodes.get("reflexive")
            wait_until(learnt, timeout=15, what="two rounds of STUN questions")
            self.assertTrue(self.nodes["reflexive"].startswith("127.0.0.1:"), self.nodes)
            self.assertEqual(self.nodes["nat"], "endpoint-independent", self.nodes)
            self.assertEqual(ug.stop(), 0)  # the prober's thread stops with the node

    def test_config_refuses_a_bad_section(self):
        for bad in ("stun_client: { interval: 5m }", "stun_client: { servers: [ 'nohost' ] }",
                    "stun_client: { servers: [ '127.0.0.1:3478' ], interval: 10ms }"):
            ug = Ugate(extra_yaml=bad)
            r, _ = ugate_cli("--config", ug.config, "check")
            self.assertEqual(r.returncode, 1, bad)
            self.assertIn("stun_client", r.stderr, bad)
        ug = Ugate(extra_yaml="stun_client: { servers: [ '127.0.0.1:3478' ] }")
        r, _ = ugate_cli("--config", ug.config, "check")
        self.assertEqual(json.loads(r.stdout)["stun_client"], {"servers": ["127.0.0.1:3478"], "interval": "5m"})


class TurnProbe(unittest.TestCase):
    """`ugate turn-probe`: an allocation, a permission or a channel, the peer's echo through the relay."""

    def check_echo(self, server, *creds, channel=False):
        peer = Peer(self)
        args = [*creds, "--peer", f"127.0.0.1:{peer.port}", "--message", "hello through the relay"]
        code, out, _ = turn_probe(server, *args, *(["--channel"] if channel else []))
        self.assertEqual(code, 0, out)
        self.assertEqual(out["reply"], "hello through the relay", out)
        self.assertTrue(out["relayed"].startswith("127.0.0.1:"), out)
        self.assertTrue(out["mapped"].startswith("127.0.0.1:"), out)
        self.assertEqual(out["realm"], REALM_NAME, out)
        self.assertNotIn("release", out, "the allocation was released (Refresh 0)")
        return out

    def test_coturn_long_term_with_send_indications(self):
        coturn = Coturn(self)
        out = self.check_echo(f"127.0.0.1:{coturn.port}", "--user", "alice", "--password", "wonderland")
        self.assertTrue(out["via"].startswith("data indication from 127.0.0.1:"), out)

    def test_coturn_rest_credentials_with_a_channel(self):
        coturn = Coturn(self, rest=True)
        out = self.check_echo(f"127.0.0.1:{coturn.port}", "--user", "alice", "--secret", SECRET, channel=True)
        self.assertEqual(out["via"], "channel 16384", out)

    def test_coturn_wrong_password_fails_with_401(self):
        coturn = Coturn(self)
        code, out, took = turn_probe(f"127.0.0.1:{coturn.port}", "--user", "alice", "--password", "nope")
        self.assertEqual(code, 2, out)
        self.assertIn("401", out["error"], out)
        self.assertLess(took, 10)

    def test_ugate_long_term_and_rest(self):
        with Ugate(turn_yaml()) as ug:
            server = f"127.0.0.1:{ug.port('t')}"
            self.check_echo(server, "--user", "bob", "--password", "builder")
            self.check_echo(server, "--user", "carol", "--secret", SECRET, channel=True)
            code, out, _ = turn_probe(server, "--user", "alice", "--password", "nope")
            self.assertEqual(code, 2, out)
            self.assertIn("401", out["error"], out)
            self.assertGreaterEqual(ug.metric("ugate_turn_relayed_packets_total", listener="t", direction="to_peer"), 2)
            wait_until(lambda: ug.metric("ugate_turn_allocations", listener="t") == 0, what="allocations released")

    def test_no_answer_and_bad_arguments(self):
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        self.addCleanup(silent.close)
        code, out, took = turn_probe(f"127.0.0.1:{silent.getsockname()[1]}", "--user", "a", "--password", "b")
        self.assertEqual(code, 2, out)
        self.assertIn("no answer", out["error"], out)
        self.assertLess(took, 8, "--timeout 3s bounds the retransmissions")
        r, _ = ugate_cli("turn-probe", "127.0.0.1:1", "--user", "a")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--password or --secret", r.stderr)


if __name__ == "__main__":
    unittest.main()

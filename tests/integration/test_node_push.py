"""Messages between mesh nodes through a gateway's push service: `ugate push node-listen` and
`ugate push node-send` with the nodes' own certificates (a mini CA made by `ugate ca init`), end to
end encrypted (the gateway's store never holds the text), channels, delivery receipts, refusals.
The gateway is a real ugate with a webpush listener; the nodes are the CLI on their state dirs."""
import http.client
import json
import os
import select
import shutil
import sqlite3
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import UGATE, Ugate, kept_port
from netns import Netns, NetnsUgate, add_addr, link, needs_netns
from test_webpush import make_cert

TD = "cluster.local"


def run(*args, check=True, timeout=60):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{args} exited {r.returncode}: {r.stdout} {r.stderr}")
    return r


class Nodes:
    """A mesh CA, and nodes (a config and a state dir each) whose certificates it signs."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ugate-np-")
        self.ca = os.path.join(self.dir, "ca")
        run(UGATE, "ca", "init", "--dir", self.ca)
        self.key, self.cert = make_cert(self.dir)  # the push listener's own (server) certificate

    def config(self, name, ca=None):
        path = os.path.join(self.dir, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(f"identity: {{ name: {name}, ca: {{ dir: '{ca or self.ca}' }} }}\n")
        return ["--config", path, "--state-dir", os.path.join(self.dir, name)]

    def node_id(self, name, ca=None):
        return json.loads(run(UGATE, *self.config(name, ca), "id", "--json").stdout)["node_id"]

    def push(self, name, *args, ca=None, check=True, timeout=60):
        return run(UGATE, *self.config(name, ca), "push", *args, check=check, timeout=timeout)

    def listen(self, name, gateway, *args, ca=None):
        """node-listen in the background, returned once it has registered (its stderr says so)."""
        p = subprocess.Popen([UGATE, *self.config(name, ca), "push", "node-listen", "--gateway", gateway,
                              "--cacert", self.cert, "--json", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([p.stderr], [], [], 0.5)
            if ready:
                line = p.stderr.readline()
                if "listening" in line:
                    return p
                if not line and p.poll() is not None:
                    break
        p.kill()
        raise AssertionError(f"node-listen {name} did not start: {p.stderr.read()}")

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def finish(proc, timeout=30):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, [json.loads(l) for l in out.splitlines() if l.strip()], err


def push_listener(nodes, address, **opts):
    extra = "".join(f", {k}: {v}" for k, v in opts.items())
    return (f"[ {{ name: push, address: '{address}', protocol: webpush, "
            f"tls: {{ cert: '{nodes.cert}', key: '{nodes.key}' }}{extra} }} ]")


class NodeMessages(unittest.TestCase):
    def setUp(self):
        self.nodes = Nodes()
        self.addCleanup(self.nodes.close)
        # The gateway restarts in some tests and comes back at the same address (self.url), as a real one
        # would: a port fixed before it first starts, kept by all its runs.
        self.port = kept_port(self.addCleanup)
        yaml_identity = f"identity: {{ name: gw, ca: {{ dir: '{self.nodes.ca}' }} }}"
        self.gw = Ugate(push_listener(self.nodes, f"127.0.0.1:{self.port}"), extra_yaml=yaml_identity)
        self.gw.start()
        self.addCleanup(self.gw.__exit__, None, None, None)
        self.url = f"https://localhost:{self.port}"

    def send(self, sender, *args, check=True):
        return self.nodes.push(sender, "node-send", "--gateway", self.url, "--cacert", self.nodes.cert, "--json",
                               *args, check=check)

    def store_bytes(self):
        data = b""
        state = os.path.join(self.gw.dir, "state")
        for name in os.listdir(state):
            if name.startswith("webpush-push.db"):
                with open(os.path.join(state, name), "rb") as f:
                    data += f.read()
        return data

    def metric(self, name):
        return self.gw.metric(name, listener="push")

    def test_a_message_reaches_the_node_encrypted_and_the_sender_gets_a_receipt(self):
        alice, bob = self.nodes.node_id("alice"), self.nodes.node_id("bob")
        listener = self.nodes.listen("bob", self.url, "--count", "1", "--timeout", "30")
        secret = "the vault code is 7731 " + os.urandom(8).hex()
        r = self.send("alice", "--to", bob, "--receipt", "20", "--ttl", "60", secret)
        code, got, err = finish(listener)
        self.assertEqual(code, 0, err)
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["text"], secret)
        self.assertEqual(got[0]["from"], alice, "the sender as its signature and certificate prove it")
        self.assertEqual(got[0]["spiffe_id"], f"spiffe://{TD}/ns/default/sa/alice")
        lines = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(lines[0]["to"], bob)
        self.assertEqual(lines[1], {"receipt": lines[0]["sent"], "from": bob})
        self.assertEqual(self.metric("ugate_webpush_node_messages_total"), 1)
        self.assertEqual(self.metric("ugate_webpush_receipts_total"), 1)
        self.assertNotIn(secret.encode(), self.store_bytes())

    def test_messages_wait_for_an_absent_node_and_the_gateway_cannot_read_them(self):
        bob = self.nodes.node_id("bob")
        self.nodes.push("bob", "node-listen", "--gateway", self.url, "--cacert", self.nodes.cert, "--timeout", "1",
                        check=False)  # registers, then goes away
        secret = "stored but sealed " + os.urandom(8).hex()
        self.send("alice", "--to", bob, secret)
        self.assertNotIn(secret.encode(), self.store_bytes(), "the store holds ciphertext only")
        self.gw.stop()
        self.gw.__exit__(None, None, None)
        self.gw.start()  # a restart loses nothing
        listener = self.nodes.listen("bob", self.url, "--count", "1", "--timeout", "20")
        code, got, err = finish(listener)
        self.assertEqual(code, 0, err)
        self.assertEqual(got[0]["text"], secret)

    def test_a_channel_reaches_each_member_and_each_sends_a_receipt(self):
        ids = {n: self.nodes.node_id(n) for n in ("alice", "bob", "carol")}
        listeners = [self.nodes.listen(n, self.url, "--channel", "ops", "--count", "1", "--timeout", "30")
                     for n in ("bob", "carol")]
        r = self.send("alice", "--channel", "ops", "--receipt", "20", "deploy at noon")
        for listener in listeners:
            code, got, err = finish(listener)
            self.assertEqual(code, 0, err)
            self.assertEqual((got[0]["text"], got[0]["channel"], got[0]["from"]), ("deploy at noon", "ops", ids["alice"]))
        lines = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual({l["to"] for l in lines if "sent" in l}, {ids["bob"], ids["carol"]})
        self.assertEqual({l["from"] for l in lines if "receipt" in l}, {ids["bob"], ids["carol"]})

    def test_a_node_reaches_its_mailbox_through_its_own_ugate_over_hbone(self):
        # The gateway also has a mesh port; bob's ugate forwards a local port to gw:PUSH over HBONE, and
        # bob's push client, inside that tunnel, still proves bob with its own certificate.
        yaml_identity = f"identity: {{ name: gw, ca: {{ dir: '{self.nodes.ca}' }} }}"
        self.gw.__exit__(None, None, None)
        listeners = push_listener(self.nodes, f"127.0.0.1:{self.port}")[:-1] + (
            ", { name: mesh, address: '127.0.0.1:0', protocol: mesh } ]")
        self.gw = Ugate(listeners, extra_yaml=yaml_identity)
        self.gw.start()
        self.addCleanup(self.gw.__exit__, None, None, None)
        agent = Ugate(f"[ {{ name: to-push, address: '127.0.0.1:0', protocol: tcp, forward: 'gw:{self.port}' }} ]",
                      extra_yaml=(f"identity: {{ name: bob-agent, ca: {{ dir: '{self.nodes.ca}' }} }}\n"
                                  f"nodes: {{ gw: {{ address: '127.0.0.1:{self.gw.port('mesh')}', "
                                  f"id: 'spiffe://{TD}/ns/default/sa/gw' }} }}"))
        with agent:
            bob = self.nodes.node_id("bob")
            listener = self.nodes.listen("bob", f"https://localhost:{agent.port('to-push')}", "--count", "1",
                                         "--timeout", "20")
            self.send("alice", "--to", bob, "--receipt", "20", "over the mesh")
            code, got, err = finish(listener)
            self.assertEqual(code, 0, err)
            self.assertEqual(got[0]["text"], "over the mesh")
            self.assertGreaterEqual(agent.metric("ugate_listener_accepted_total", listener="to-push"), 1)
            self.assertEqual(self.gw.metric("ugate_listener_accepted_total", listener="mesh"), 1,
                             "bob's push connection came over one HBONE connection")

    def test_refusals_are_clear(self):
        # No client certificate: the node endpoints answer 401.
        ctx = ssl.create_default_context(cafile=self.nodes.cert)
        conn = http.client.HTTPSConnection("localhost", self.port, context=ctx, timeout=10)
        conn.request("GET", "/node/inbox")
        r = conn.getresponse()
        self.assertEqual((r.status, r.read()), (401, b"node mailboxes need a mesh client certificate\n"))
        conn.close()
        # The CertificateRequest names the mesh CA, so browsers offer no other certificate.
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-CAfile", self.nodes.cert],
                           input="", capture_output=True, text=True, timeout=30)
        names = r.stdout.split("Acceptable client certificate CA names", 1)[-1].split("Requested Signature", 1)[0]
        self.assertIn("CN=ugate mesh root", names.replace(" = ", "="), r.stdout)
        # A node whose certificate another CA signed does not get through the TLS handshake.
        other = os.path.join(self.nodes.dir, "other-ca")
        run(UGATE, "ca", "init", "--dir", other)
        r = self.nodes.push("mallory", "node-listen", "--gateway", self.url, "--cacert", self.nodes.cert,
                            "--timeout", "5", ca=other, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("register keys", r.stderr)
        # A node that never registered cannot be written to.
        r = self.send("alice", "--to", self.nodes.node_id("nobody"), "hello", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("has no mailbox here", r.stderr)
        # Without a receipt in time, node-send says so and fails.
        bob = self.nodes.node_id("bob")
        self.nodes.push("bob", "node-listen", "--gateway", self.url, "--cacert", self.nodes.cert, "--timeout", "1",
                        check=False)
        r = self.send("alice", "--to", bob, "--receipt", "2", "unread", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no receipt for", r.stderr)

    def store(self):
        return sqlite3.connect(os.path.join(self.gw.dir, "state", "webpush-push.db"), timeout=10)

    def test_a_gateway_cannot_forge_alter_or_replay_a_message(self):
        """The gateway's store is the forger: it renames a sender, delivers a message twice, and injects one
        encrypted to bob's (public) push keys claiming alice sent it. bob takes only what alice signed."""
        alice, bob, carol = (self.nodes.node_id(n) for n in ("alice", "bob", "carol"))
        self.nodes.push("bob", "node-listen", "--gateway", self.url, "--cacert", self.nodes.cert, "--timeout", "1",
                        check=False)  # registers, then goes away
        self.send("alice", "--to", bob, "first, genuine")
        self.send("alice", "--to", bob, "second, its sender renamed")
        db = self.store()
        (bob_sub, record), = db.execute("SELECT subscription_id, record FROM nodes WHERE node_id=?", (bob,))
        rows = db.execute("SELECT id FROM messages WHERE subscription_id=? ORDER BY seq", (bob_sub,)).fetchall()
        self.assertEqual(len(rows), 2)
        (first_body,), = db.execute("SELECT body FROM messages WHERE id=?", (rows[0][0],))
        db.execute("UPDATE messages SET sender=? WHERE id=?", (carol, rows[1][0]))
        db.commit()
        # A message the gateway made itself: Web Push to bob's mailbox, then labelled as alice's.
        (push_id,), = db.execute("SELECT push_id FROM subscriptions WHERE id=?", (bob_sub,))
        keys = json.loads(record)
        sub_file = os.path.join(self.nodes.dir, "bob-mailbox.json")
        with open(sub_file, "w") as f:
            json.dump({"endpoint": f"{self.url}/p/{push_id}", "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}, f)
        run(UGATE, "push", "send", "--to", sub_file, "--ttl", "60", "--cacert", self.nodes.cert, "pay mallory")
        (injected,), = db.execute("SELECT max(seq) FROM messages WHERE subscription_id=?", (bob_sub,))
        db.execute("UPDATE messages SET sender=? WHERE seq=?", (alice, injected))
        # The first message again, under a new ID.
        db.execute("INSERT INTO messages (id, subscription_id, topic, urgency, received_ms, expires_ms, body, sender, "
                   "receipt_for, channel) SELECT 'replayed' || id, subscription_id, topic, urgency, received_ms, "
                   "expires_ms, body, sender, receipt_for, channel FROM messages WHERE id=?", (rows[0][0],))
        db.commit()
        db.close()

        listener = self.nodes.listen("bob", self.url, "--count", "4", "--timeout", "30")
        code, got, err = finish(listener)
        self.assertEqual(code, 1, "refused messages fail the run")
        self.assertEqual(len(got), 4, got)
        self.assertEqual((got[0]["text"], got[0]["from"]), ("first, genuine", alice))
        refused = {g["gateway_from"]: g["error"] for g in got[1:]}
        self.assertTrue(all("text" not in g and "from" not in g for g in got[1:]), got)
        self.assertTrue(refused[carol].startswith("sender_mismatch: "), refused)
        errors = [g["error"].split(":")[0] for g in got[1:]]
        self.assertEqual(errors, ["sender_mismatch", "unsigned", "replayed"])
        self.assertIn("3 message(s) refused", err)
        for g in got[1:]:
            self.assertIn(f"message {g['id']} (the gateway says from {g['gateway_from']}) refused", err)

        # The same message delivered again to a restarted receiver is still a replay (STATE_DIR/push-seen.json).
        db = self.store()
        db.execute("INSERT INTO messages (id, subscription_id, topic, urgency, received_ms, expires_ms, body, sender, "
                   "receipt_for, channel) VALUES ('again', ?, '', 2, 0, ?, ?, ?, '', '')",
                   (bob_sub, int(time.time() * 1000) + 60000, first_body, alice))
        db.commit()
        db.close()
        listener = self.nodes.listen("bob", self.url, "--count", "1", "--timeout", "30")
        code, got, err = finish(listener)
        self.assertEqual(code, 1, err)
        self.assertTrue(got[0]["error"].startswith("replayed"), got)

    def test_receipts_are_the_receivers_word_not_the_gateways(self):
        """bob acknowledges without signing (as a gateway that made the receipt up would): alice refuses it."""
        bob = self.nodes.node_id("bob")
        self.nodes.push("bob", "node-listen", "--gateway", self.url, "--cacert", self.nodes.cert, "--timeout", "1",
                        check=False)
        sender = subprocess.Popen([UGATE, *self.nodes.config("alice"), "push", "node-send", "--gateway", self.url,
                                   "--cacert", self.nodes.cert, "--json", "--to", bob, "--receipt", "10", "ack me"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ctx = ssl.create_default_context(cafile=self.nodes.cert)
        state = os.path.join(self.nodes.dir, "bob")
        ctx.load_cert_chain(os.path.join(state, "cert-chain.pem"), os.path.join(state, "key.pem"))
        conn = http.client.HTTPSConnection("localhost", self.port, context=ctx, timeout=30)
        conn.request("GET", "/node/inbox?wait=10")
        r = conn.getresponse()
        body = r.read()
        self.assertEqual(r.status, 200, body)
        message_id = json.loads(body)["messages"][0]["id"]
        conn.request("DELETE", f"/m/{message_id}")  # an ack with no signed receipt
        r = conn.getresponse()
        self.assertEqual(r.status, 204, r.read())
        conn.close()
        out, err = sender.communicate(timeout=30)
        self.assertEqual(sender.returncode, 1, err)
        self.assertIn(f"receipt for {message_id} refused: the receipt is not signed by the receiver", err)
        self.assertIn(f"no receipt for {message_id}", err)
        self.assertNotIn("receipt", [k for l in out.splitlines() for k in json.loads(l)])
        self.assertEqual(self.metric("ugate_webpush_receipts_total"), 1, "the gateway did make a receipt")


@needs_netns
class NodeMessagesBehindNat(unittest.TestCase):
    """B in a private network behind a NAT (no inbound connections); the gateway in a public
    namespace; A in a third. B's messages come down the connection B opened to the gateway."""

    def test_a_node_behind_nat_receives_through_the_gateway(self):
        nodes = Nodes()
        self.addCleanup(nodes.close)
        g, nat, b, a = (Netns("np" + x) for x in "gnba")
        self.addCleanup(lambda: [ns.delete() for ns in (g, nat, b, a)])
        link(g, "g0", nat, "n0")
        link(nat, "n1", b, "b0")
        link(a, "a0", g, "g1")
        add_addr(g, "g0", "10.82.1.1/24")
        add_addr(nat, "n0", "10.82.1.2/24")
        add_addr(nat, "n1", "192.168.82.1/24")
        add_addr(b, "b0", "192.168.82.2/24")
        add_addr(g, "g1", "10.82.2.1/24")
        add_addr(a, "a0", "10.82.2.2/24")
        b.run("ip", "route", "add", "default", "via", "192.168.82.1")
        nat.run("ip", "route", "add", "default", "via", "10.82.1.1")
        a.run("ip", "route", "add", "default", "via", "10.82.2.1")
        nat.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        nat.run("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "n0", "-j", "MASQUERADE")
        nat.run("iptables", "-A", "FORWARD", "-i", "n0", "-o", "n1", "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP")

        # The push listener's certificate names the gateway's addresses.
        key, cert = nodes.key, nodes.cert
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cert, "-subj", "/CN=gw", "-days", "1",
                        "-addext", "subjectAltName=IP:10.82.1.1,IP:10.82.2.1"],
                       check=True, capture_output=True, timeout=30)
        gw = NetnsUgate(g, push_listener(nodes, "0.0.0.0:8443"),
                        extra_yaml=f"identity: {{ name: gw, ca: {{ dir: '{nodes.ca}' }} }}")
        with gw:
            bob = nodes.node_id("bob")
            cmd = [UGATE, *nodes.config("bob"), "push", "node-listen", "--gateway", "https://10.82.1.1:8443",
                   "--cacert", cert, "--json", "--count", "1", "--timeout", "30"]
            listener = b.popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 20
            r = None
            while time.monotonic() < deadline:  # until B has registered its keys
                r = a.run(UGATE, *nodes.config("alice"), "push", "node-send", "--gateway", "https://10.82.2.1:8443",
                          "--cacert", cert, "--to", bob, "--receipt", "20", "through the NAT", check=False)
                if r.returncode == 0 or "has no mailbox" not in r.stderr:
                    break
                time.sleep(0.3)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("delivered", r.stdout)
            code, got, err = finish(listener)
            self.assertEqual(code, 0, err)
            self.assertEqual(got[0]["text"], "through the NAT")


if __name__ == "__main__":
    unittest.main()

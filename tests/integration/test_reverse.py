"""Reverse accept between real ugate processes: node B keeps a connection to
gateway G's mesh port (ALPN h2r) and takes streams over it; in network
namespaces, B sits behind a NAT with no inbound route."""
import hashlib
import json
import os
import subprocess
import socket
import time
import unittest

from harness import (UGATE, Server, Ugate, access_fields, both_ways_client, kept_port, recv_all, tcp_listener_yaml,
                     wait_until)
from netns import NetnsUgate, Netns, add_addr, link, needs_netns
from test_mesh import Mesh, mesh_address, mesh_listener, reset_within, spiffe

MIB = 1 << 20


def registered(g):
    return json.loads(g.get("/debug/nodes")[1])["registered"]


class ReverseLoopback(unittest.TestCase):
    """G (2 workers) forwards to b:PORT; B has no listener, only remote_accept: [gw]."""

    def setUp(self):
        self.mesh = Mesh()

    def tearDown(self):
        self.mesh.close()

    def gateway(self, listeners, mesh_port=0):
        return self.mesh.node("gw", f"[ {mesh_listener(mesh_port)}, {listeners} ]",
                              {"b": f"id: '{spiffe('b')}'"})

    def node_b(self, g_address):
        """B, which knows G at g_address (mesh_address(g): G started first)."""
        nodes = {"gw": f"address: '{g_address}', id: '{spiffe('gw')}'"}
        return self.mesh.node("b", "[]", nodes, extra="remote_accept: { gateways: [gw], backoff_min: 200ms, backoff_max: 1s }")

    def test_streams_reach_the_node_over_its_connection_from_every_worker(self):
        total = 16 * MIB
        echo = Server(lambda c: c.sendall(recv_all(c)))
        listeners = (f"{tcp_listener_yaml('to-b', 0, f'b:{echo.port}')}, "
                     "{ name: proxy, address: '127.0.0.1:0', protocol: http-proxy }")
        with self.gateway(listeners) as g, self.node_b(mesh_address(g)) as b:
            port, proxy = g.port("to-b"), g.port("proxy")
            wait_until(lambda: len(registered(g)) == 1, what="B registered")
            [r] = registered(g)
            self.assertEqual((r["name"], r["spiffe_id"]), ("b", spiffe("b")))
            [b_node] = [n for n in json.loads(g.get("/debug/nodes")[1])["configured"] if n["name"] == "b"]
            self.assertEqual(b_node["address"], "", "a node that only registers has no address (not ':0')")
            [b_status] = [n for n in json.loads(g.get("/debug/status")[1])["nodes"] if n["name"] == "b"]
            self.assertEqual(b_status["path"], "reverse")
            n = 16
            # A tcp listener's connection moves to the worker that holds B's connection before it
            # starts, so none is bridged; a proxy door's destination is known only after its
            # handshake, so on G's other worker it goes through a bridge.
            for i in range(n):
                with socket.create_connection(("127.0.0.1", port)) as c:
                    sent, got = both_ways_client(c, total if i < 2 else 1000, i)
                    self.assertEqual(got[1], sent)
            self.assertEqual(g.metric("ugate_mesh_bridged_streams_total"), 0)
            for i in range(n):
                with socket.create_connection(("127.0.0.1", proxy)) as c:
                    c.sendall(f"CONNECT b.cluster.local:{echo.port} HTTP/1.1\r\nHost: b\r\n\r\n".encode())
                    head = b""
                    while b"\r\n\r\n" not in head:
                        head += c.recv(1)
                    self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                    sent, got = both_ways_client(c, total if i < 2 else 1000, 100 + i)
                    self.assertEqual(got[1], sent)
            self.assertEqual(g.metric("ugate_mesh_connections_total", role="pool"), 0, "G dialled nothing")
            self.assertGreater(g.metric("ugate_mesh_bridged_streams_total"), 0)
            self.assertLess(g.metric("ugate_mesh_bridged_streams_total"), n)
            wait_until(lambda: b.metric("ugate_listener_closed_total", listener="remote-accept") == 2 * n,
                       what="B closed")
            wait_until(lambda: g.metric("ugate_listener_closed_total", listener="to-b") == n, what="G closed")
            self.assertEqual(g.stop(), 0)
            lines = access_fields(g, lambda f: f["listener"] == "to-b")
            self.assertEqual([f["result"] for f in lines], ["done"] * n)
            self.assertTrue(all(f["upstream"].startswith("127.0.0.1:") for f in lines))
        echo.close()

    def test_absent_node_fails_fast_then_returns_and_follows_a_gateway_restart(self):
        echo = Server(lambda c: c.sendall(recv_all(c)))
        # G restarts below, and B's config names G's mesh port: a port fixed before G starts, kept by G's runs.
        g_port = kept_port(self.addCleanup)
        with self.gateway(tcp_listener_yaml('to-b', 0, f'b:{echo.port}'), mesh_port=g_port) as g:
            reset_within(self, g.port("to-b"), 1)  # B never registered
            wait_until(lambda: g.metric("ugate_listener_errors_total", listener="to-b", reason="node_unavailable") == 1,
                       what="node_unavailable counted")
            with self.node_b(f"127.0.0.1:{g_port}") as b:
                wait_until(lambda: len(registered(g)) == 1, what="B registered")
                self.assertEqual(self.round_trip(g.port("to-b")), b"hello")
                b.stop()
                wait_until(lambda: registered(g) == [], what="B gone")
                reset_within(self, g.port("to-b"), 1)
            with self.node_b(f"127.0.0.1:{g_port}") as b:  # B restarted registers again
                wait_until(lambda: len(registered(g)) == 1, what="B back")
                self.assertEqual(self.round_trip(g.port("to-b")), b"hello")
                g.stop()
                start = time.monotonic()
                g.start()  # the gateway restarted: B reconnects within its backoff (at most 1 s here)
                wait_until(lambda: len(registered(g)) == 1, timeout=5, what="B reconnected")
                self.assertLess(time.monotonic() - start, 4)
                self.assertEqual(self.round_trip(g.port("to-b")), b"hello")  # to-b took a new port 0 on restart
                self.assertIn("remote accept: registered with gateway gw", b.log())
        echo.close()

    def test_a_remote_node_calls_the_node_through_the_gateway_and_the_node_sees_the_caller(self):
        """A -> G -> B with B behind G (reverse accept): A's TLS goes to B inside a CONNECT for B's
        mesh port through G (double HBONE), so B authorizes A, not G, and G relays bytes it cannot
        read. B's rules admit A only: G's own streams to B are denied."""
        echo = Server(lambda c: c.sendall(recv_all(c)))
        authz = ("authorization: { default: deny, rules: [ "
                 f"{{ name: from-a, action: allow, from: {{ spiffe: '{spiffe('a')}' }} }} ] }}")
        with self.gateway(tcp_listener_yaml('g-to-b', 0, f'b:{echo.port}')) as g:
            nodes = {"gw": f"address: '{mesh_address(g)}', id: '{spiffe('gw')}'"}
            extra = "remote_accept: { gateways: [gw], backoff_min: 200ms, backoff_max: 1s }\n" + authz
            with self.mesh.node("b", "[]", nodes, extra=extra) as b:
                wait_until(lambda: len(registered(g)) == 1, what="B registered")
                nodes["b"] = f"id: '{spiffe('b')}', via: gw"
                with self.mesh.node("a", f"[ {tcp_listener_yaml('to-b', 0, f'b:{echo.port}')} ]", nodes) as a:
                    n = 4
                    for i in range(n):
                        with socket.create_connection(("127.0.0.1", a.port("to-b"))) as c:
                            sent, got = both_ways_client(c, MIB if i < 2 else 1000, i)
                            self.assertEqual(got[1], sent)
                    reset_within(self, g.port("g-to-b"), 2)  # the gateway itself is not A
                    self.assertIn(a.metric("ugate_mesh_connections_total", role="pool"), (2, 4),
                                  "per worker that carried streams: one to G, and one to B inside it")
                    wait_until(lambda: b.metric("ugate_listener_closed_total", listener="remote-accept") >= n + 1,
                               what="B closed")
                    self.assertEqual(a.stop(), 0)
                self.assertEqual(b.stop(), 0)
            self.assertEqual(g.stop(), 0)
        echo.close()
        on_b = access_fields(b, lambda f: f["listener"] == "remote-accept")
        self.assertEqual(sorted((f["peer_spiffe"], f["result"], f["authz"]) for f in on_b),
                         [(spiffe("a"), "done", "allow:from-a")] * n + [(spiffe("gw"), "denied", "deny:default")],
                         on_b)
        self.assertTrue(all(f["dst"] == f"127.0.0.1:{echo.port}" for f in on_b), on_b)
        # G saw A's tunnels to B's mesh port by name, and could not read what went inside.
        on_g = access_fields(g, lambda f: f["listener"] == "mesh")
        self.assertTrue(on_g and all(f["dst"] == "b.cluster.local:15008" and f["peer_spiffe"] == spiffe("a")
                                     for f in on_g), on_g)

    @staticmethod
    def round_trip(port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"hello")
            c.shutdown(socket.SHUT_WR)
            return recv_all(c)


class TokenRegistration(unittest.TestCase):
    """A node whose certificate its own CA issued (not the mesh's) registers with an ES256 token
    (ALPN h2rt) that `ugate ca registration-token` signed for its node ID."""

    def setUp(self):
        self.mesh = Mesh()
        self.addCleanup(self.mesh.close)
        # The phones' configs name the gateway's mesh port before any gateway starts, and each test starts
        # gateways one after another on it: a port fixed here, kept for the test.
        self.g_port = kept_port(self.addCleanup)
        self.issuer = os.path.join(self.mesh.dir, "issuer.json")
        keys = subprocess.run([UGATE, "push", "vapid-keys"], capture_output=True, text=True, check=True).stdout
        with open(self.issuer, "w") as f:
            f.write(keys)
        self.echo = Server(lambda c: c.sendall(recv_all(c)))
        self.addCleanup(self.echo.close)

    def gateway(self, issuer_pub=None):
        issuer_pub = issuer_pub or json.load(open(self.issuer))["publicKey"]
        listeners = f"[ {mesh_listener(self.g_port)}, {tcp_listener_yaml('to-phone', 0, f'phone:{self.echo.port}')} ]"
        return self.mesh.node("gw", listeners, {"phone": f"id: '{spiffe('phone')}'"},
                              extra=f"registration_tokens: {{ issuers: ['{issuer_pub}'] }}")

    def phone(self, token_file):
        """Its own CA (in its state dir); it trusts the mesh root to know the gateway."""
        yaml = (f"identity: {{ name: phone, roots: ['{self.mesh.root}'] }}\n"
                f"nodes:\n  gw: {{ address: '127.0.0.1:{self.g_port}', id: '{spiffe('gw')}' }}\n"
                f"remote_accept: {{ gateways: [gw], backoff_min: 200ms, backoff_max: 1s, token_file: '{token_file}' }}\n")
        node = Ugate("[]", extra_yaml=yaml)
        out = subprocess.run([UGATE, "--config", node.config, "id", "--json"], capture_output=True, text=True, check=True)
        node.node_id = json.loads(out.stdout)["node_id"]
        return node

    def token(self, node_id, path, issuer=None, name="phone"):
        r = subprocess.run([UGATE, "ca", "registration-token", "--issuer", issuer or self.issuer, "--name", name,
                            "--node-id", node_id, "--ttl", "1h"], capture_output=True, text=True, check=True)
        self.assertIn("registration token for " + spiffe(name), r.stderr)
        with open(path, "w") as f:
            f.write(r.stdout)
        return path

    def test_a_node_of_another_ca_registers_by_token_and_takes_streams(self):
        phone = self.phone(os.path.join(self.mesh.dir, "phone.token"))
        self.token(phone.node_id, os.path.join(self.mesh.dir, "phone.token"))
        with self.gateway() as g, phone:
            wait_until(lambda: len(registered(g)) == 1, what="the phone registered by token")
            [r] = registered(g)
            self.assertEqual((r["name"], r["spiffe_id"], r["node_id"]), ("phone", spiffe("phone"), phone.node_id))
            self.assertEqual(ReverseLoopback.round_trip(g.port("to-phone")), b"hello")
            self.assertIn("(by token)", phone.log())

    def test_tokens_for_another_key_or_from_an_unknown_issuer_are_refused(self):
        other = os.path.join(self.mesh.dir, "other.json")
        with open(other, "w") as f:
            f.write(subprocess.run([UGATE, "push", "vapid-keys"], capture_output=True, text=True, check=True).stdout)
        token_file = os.path.join(self.mesh.dir, "phone.token")
        phone = self.phone(token_file)
        stranger = self.phone(os.path.join(self.mesh.dir, "unused"))  # another key: another node ID
        for node_id, issuer in ((stranger.node_id, None), (phone.node_id, other)):
            self.token(node_id, token_file, issuer)
            with self.gateway() as g, phone:
                wait_until(lambda: g.metric("ugate_listener_errors_total", listener="mesh",
                                            reason="token_rejected") >= 2, what="token_rejected counted")
                self.assertEqual(registered(g), [])
                reset_within(self, g.port("to-phone"), 1)  # streams to it fail fast
            phone.__exit__(None, None, None)
        # And without a token, a certificate from another CA does not get through the handshake.
        plain = Ugate("[]", extra_yaml=(f"identity: {{ name: phone, roots: ['{self.mesh.root}'] }}\n"
                                        f"nodes:\n  gw: {{ address: '127.0.0.1:{self.g_port}', id: '{spiffe('gw')}' }}\n"
                                        "remote_accept: { gateways: [gw], backoff_min: 200ms, backoff_max: 1s }\n"))
        with self.gateway() as g, plain:
            wait_until(lambda: g.metric("ugate_listener_errors_total", listener="mesh", reason="cert_rejected") >= 1,
                       what="cert_rejected counted")
            self.assertEqual(registered(g), [])


@needs_netns
class ReverseBehindNat(unittest.TestCase):
    """B in a private network behind a NAT namespace (MASQUERADE, new inbound
    connections dropped); the gateway G in a public one; a client C in a third.
    C reaches B's local HTTP server through G, bytes exact."""

    def setUp(self):
        self.mesh = Mesh()
        self.addCleanup(self.mesh.close)
        tag = "rv"
        self.g, self.nat, self.b, self.c = (Netns(tag + x) for x in "gnbc")
        self.addCleanup(lambda: [ns.delete() for ns in (self.g, self.nat, self.b, self.c)])
        link(self.g, "g0", self.nat, "n0")   # the public side: 10.81.1.0/24
        link(self.nat, "n1", self.b, "b0")   # the private side: 192.168.81.0/24
        link(self.c, "c0", self.g, "g1")     # the client's: 10.81.2.0/24
        add_addr(self.g, "g0", "10.81.1.1/24")
        add_addr(self.nat, "n0", "10.81.1.2/24")
        add_addr(self.nat, "n1", "192.168.81.1/24")
        add_addr(self.b, "b0", "192.168.81.2/24")
        add_addr(self.g, "g1", "10.81.2.1/24")
        add_addr(self.c, "c0", "10.81.2.2/24")
        self.b.run("ip", "route", "add", "default", "via", "192.168.81.1")
        self.nat.run("ip", "route", "add", "default", "via", "10.81.1.1")
        self.c.run("ip", "route", "add", "default", "via", "10.81.2.1")
        self.nat.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.nat.run("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "n0", "-j", "MASQUERADE")
        self.nat.run("iptables", "-A", "FORWARD", "-i", "n0", "-o", "n1", "-m", "conntrack", "--ctstate", "NEW",
                     "-j", "DROP")
        www = os.path.join(self.mesh.dir, "www")
        os.makedirs(www)
        self.body = os.urandom(3 * MIB)
        with open(os.path.join(www, "blob"), "wb") as f:
            f.write(self.body)
        self.b.popen(["/usr/bin/python3", "-m", "http.server", "8080", "--bind", "127.0.0.1", "--directory", www],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ugate(self, ns, name, listeners, nodes=None, extra=""):
        yaml = f"identity: {{ name: {name}, dns: [localhost], ca: {{ dir: '{self.mesh.ca}' }} }}\n{extra}\n"
        if nodes:
            yaml += "nodes:\n" + "".join(f"  {n}: {{ {spec} }}\n" for n, spec in nodes.items())
        return NetnsUgate(ns, listeners, extra_yaml=yaml)

    def test_a_client_reaches_the_node_behind_nat_through_the_gateway(self):
        # Nothing reaches B from outside: its network has no route in, and the NAT drops new connections.
        r = self.g.run("curl", "-sS", "-m", "2", "http://192.168.81.2:8080/blob", "-o", "/dev/null", check=False)
        self.assertNotEqual(r.returncode, 0)
        g = self.ugate(self.g, "gw", "[ { name: mesh, address: '10.81.1.1:15008', protocol: mesh }, "
                                     "{ name: to-b, address: '10.81.2.1:9000', forward: 'b:8080' } ]",
                       {"b": f"id: '{spiffe('b')}'"})
        b = self.ugate(self.b, "b", "[]", {"gw": f"address: '10.81.1.1:15008', id: '{spiffe('gw')}'"},
                       extra="remote_accept: { gateways: [gw], backoff_min: 200ms, backoff_max: 1s }")
        with g, b:
            wait_until(lambda: len(registered(g)) == 1, what="B registered through the NAT")
            [reg] = registered(g)
            self.assertEqual(reg["peer"].split(":")[0], "10.81.1.2", "B's connection comes from the NAT's address")
            out = os.path.join(self.mesh.dir, "got")
            r = self.c.run("curl", "-sS", "-m", "20", "http://10.81.2.1:9000/blob", "-o", out, check=False)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out, "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), hashlib.sha256(self.body).hexdigest())
            self.assertEqual(b.metric("ugate_listener_closed_total", listener="remote-accept"), 1)
            # B killed: streams to it fail fast; B restarted: it registers again.
            b.proc.kill()
            b.proc.wait()
            wait_until(lambda: registered(g) == [], timeout=15, what="B's registration gone")
            start = time.monotonic()
            r = self.c.run("curl", "-sS", "-m", "5", "http://10.81.2.1:9000/blob", "-o", "/dev/null", check=False)
            self.assertNotEqual(r.returncode, 0)
            self.assertLess(time.monotonic() - start, 2)
            b.start()
            wait_until(lambda: len(registered(g)) == 1, what="B registered again")
            r = self.c.run("curl", "-sS", "-m", "20", "http://10.81.2.1:9000/blob", "-o", out, check=False)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_a_node_in_another_network_calls_the_node_behind_nat_as_itself(self):
        """A ugate node A in C's network reaches B through G with its own identity: B's rules admit A only."""
        g = self.ugate(self.g, "gw", "[ { name: mesh, address: '10.81.1.1:15008', protocol: mesh } ]",
                       {"b": f"id: '{spiffe('b')}'"})
        authz = ("authorization: { default: deny, rules: [ "
                 f"{{ name: from-a, action: allow, from: {{ spiffe: '{spiffe('a')}' }} }} ] }}")
        b = self.ugate(self.b, "b", "[]", {"gw": f"address: '10.81.1.1:15008', id: '{spiffe('gw')}'"},
                       extra="remote_accept: { gateways: [gw], backoff_min: 200ms, backoff_max: 1s }\n" + authz)
        a = self.ugate(self.c, "a", "[ { name: to-b, address: '127.0.0.1:9100', forward: 'b:8080' } ]",
                       {"gw": f"address: '10.81.1.1:15008', id: '{spiffe('gw')}'", "b": f"id: '{spiffe('b')}', via: gw"})
        with g, b:
            wait_until(lambda: len(registered(g)) == 1, what="B registered through the NAT")
            with a:
                out = os.path.join(self.mesh.dir, "got-a")
                r = self.c.run("curl", "-sS", "-m", "20", "http://127.0.0.1:9100/blob", "-o", out, check=False)
                self.assertEqual(r.returncode, 0, r.stderr)
                with open(out, "rb") as f:
                    self.assertEqual(hashlib.sha256(f.read()).hexdigest(), hashlib.sha256(self.body).hexdigest())
            b.stop()
        [line] = access_fields(b, lambda f: f["listener"] == "remote-accept")
        self.assertEqual((line["peer_spiffe"], line["result"], line["authz"]), (spiffe("a"), "done", "allow:from-a"))


if __name__ == "__main__":
    unittest.main()

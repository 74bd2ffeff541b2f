"""Local discovery: three nodes on one bridge (each in its own network
namespace) find each other by signed multicast announces; forged and
replayed announces are ignored and counted; silent nodes expire."""
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from harness import UGATE, wait_until
from netns import Netns, NetnsUgate, add_addr, link, sh, needs_netns

INTERVAL = 1.0  # seconds between announces in these tests
PORT = 5227 + (os.getpid() % 1000) + 1  # not the default: a real node on the host must not hear us
GROUP4 = "224.0.0.250"


def node_yaml(ca_dir, name):
    return (f"identity: {{ trust_domain: mesh.test, name: {name}, ca: {{ dir: {ca_dir} }} }}\n"
            f"discovery: {{ port: {PORT}, interval: {int(INTERVAL * 1000)}ms, ttl: {int(3 * INTERVAL)}s }}\n")


def discovered(ug):
    code, body = ug.get("/debug/nodes")
    assert code == 200, body
    return {n["node_id"]: n for n in json.loads(body)["discovered"]}


def node_id(ug):
    r = subprocess.run([UGATE, "--config", ug.config, "id", "--json"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["node_id"]


def heard(ug, result):
    return ug.metric("ugate_discovery_announces_received_total", result=result)


@needs_netns
class LocalDiscovery(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ugate-disc-")
        cls.br = Netns("dbr")
        cls.ns = [Netns(f"dn{i}") for i in range(3)]
        cls.nodes = []
        # A class cleanup runs even when the rest of this set-up fails (tearDownClass would not).
        cls.addClassCleanup(cls.clean_up)
        cls.br.run("ip", "link", "add", "br0", "type", "bridge")
        cls.br.run("ip", "link", "set", "br0", "up")
        for i, ns in enumerate(cls.ns):
            link(ns, "eth0", cls.br, f"p{i}")
            cls.br.run("ip", "link", "set", f"p{i}", "master", "br0")
            add_addr(ns, "eth0", f"10.77.0.{i + 1}/24")
            add_addr(ns, "eth0", f"fd77::{i + 1}/64")
        ca = os.path.join(cls.tmp, "ca")
        sh(UGATE, "ca", "init", "--dir", ca, "--trust-domain", "mesh.test")
        # Node 0 also forwards to node1.mesh.test:8080: a node it knows only from discovery.
        cls.forward_port = 19001
        extra = {0: f", {{ name: to-node1, address: '127.0.0.1:{cls.forward_port}', forward: 'node1.mesh.test:8080' }}"}
        for i, ns in enumerate(cls.ns):
            ug = NetnsUgate(ns, "[ { name: mesh, address: '[::]:15008', protocol: mesh }" + extra.get(i, "") + " ]",
                            extra_yaml=node_yaml(ca, f"node{i}"))
            cls.nodes.append(ug)
        www = os.path.join(cls.tmp, "www")
        os.makedirs(www)
        with open(os.path.join(www, "hello.txt"), "w") as f:
            f.write("hello from node1\n")
        cls.ns[1].popen(["/usr/bin/python3", "-m", "http.server", "8080", "--bind", "127.0.0.1", "--directory", www],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.ids = [node_id(ug) for ug in cls.nodes]
        for ug in cls.nodes:
            ug.start()
        cls.started = time.monotonic()

    @classmethod
    def clean_up(cls):
        for ug in cls.nodes:
            ug.__exit__(None, None, None)
        for ns in cls.ns + [cls.br]:
            ns.delete()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_1_nodes_find_each_other_within_two_intervals(self):
        def all_found():
            return all(set(discovered(ug)) == set(self.ids) - {me} for ug, me in zip(self.nodes, self.ids))
        wait_until(all_found, timeout=2 * INTERVAL, interval=0.05, what="every node discovering the two others")
        took = time.monotonic() - self.started
        print(f"\n  all three found each other {took:.2f}s after the last node was ready")
        table = discovered(self.nodes[0])
        peer = table[self.ids[1]]
        self.assertEqual(peer["spiffe_id"], "spiffe://mesh.test/ns/default/sa/node1")
        self.assertEqual(peer["mesh"], "10.77.0.2:15008", "dialled by the address the announce came from")
        self.assertIn("fd77::2", peer["addresses"])
        self.assertGreaterEqual(heard(self.nodes[0], "accepted"), 2)
        self.assertEqual(heard(self.nodes[0], "bad_signature"), 0)
        self.assertEqual(heard(self.nodes[0], "replayed"), 0)

    def test_2_forged_and_replayed_announces_are_ignored_and_counted(self):
        # Record a real announce of node 1 from inside node 0's namespace.
        def capture():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", PORT))
            mreq = struct.pack("4s4si", socket.inet_aton(GROUP4), socket.inet_aton("0.0.0.0"),
                               socket.if_nametoindex("eth0"))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            s.settimeout(5 * INTERVAL)
            try:
                while True:
                    data, src = s.recvfrom(8192)
                    if src[0] == "10.77.0.2":
                        return data
            finally:
                s.close()
        recorded = self.ns[0].call(capture)
        self.assertEqual(recorded[:4], b"UGAN")

        def send(datagram):
            def go():
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                             struct.pack("4s4si", socket.inet_aton("0.0.0.0"), socket.inet_aton("0.0.0.0"),
                                         socket.if_nametoindex("eth0")))
                s.sendto(datagram, (GROUP4, PORT))
                s.close()
            self.ns[0].call(go)

        witness = self.nodes[2]
        before = {r: heard(witness, r) for r in ("replayed", "bad_signature", "malformed")}
        seq_before = discovered(witness)[self.ids[1]]["sequence"]
        # Let node 1 announce again: the recorded one is then an old announce.
        wait_until(lambda: discovered(witness)[self.ids[1]]["sequence"] > seq_before, timeout=3 * INTERVAL,
                   what="a newer announce of node 1")
        send(recorded)
        # The same announce with the mesh port changed (signed bytes altered), and with a broken signature.
        forged = bytearray(recorded)
        forged[18:20] = struct.pack(">H", 4444)
        send(bytes(forged))
        forged = bytearray(recorded)
        forged[-1] ^= 0x55
        send(bytes(forged))
        send(b"UGAN\x01\x00garbage")
        wait_until(lambda: heard(witness, "replayed") >= before["replayed"] + 1
                   and heard(witness, "bad_signature") >= before["bad_signature"] + 2
                   and heard(witness, "malformed") >= before["malformed"] + 1,
                   timeout=3, what="the forged, replayed and malformed announces counted")
        self.assertEqual(discovered(witness)[self.ids[1]]["mesh"], "10.77.0.2:15008", "the forgery changed nothing")
        log = witness.log()
        self.assertIn("ignored an announce from 10.77.0.1", log)
        self.assertEqual(log.count("bad_signature\"}; more are logged"), 1, "logged once, then counted")

    def test_2b_a_node_on_the_link_is_dialled_directly_by_name(self):
        wait_until(lambda: self.ids[1] in discovered(self.nodes[0]), timeout=3 * INTERVAL, what="node 1 known")
        url = f"http://127.0.0.1:{self.forward_port}/hello.txt"
        r = wait_until(lambda: (lambda r: r if r.returncode == 0 else None)(
            self.ns[0].run("curl", "-sS", "-m", "5", url, check=False)), timeout=5, what="curl through node 0")
        self.assertEqual(r.stdout, "hello from node1\n")
        node0 = self.nodes[0]
        wait_until(lambda: any("listener=to-node1" in l for l in node0.access_lines()), what="access line")
        line = next(l for l in node0.access_lines() if "listener=to-node1" in l)
        self.assertIn("upstream=10.77.0.2:15008", line, "straight to node 1's mesh port, by its announce")
        self.assertIn("result=done", line)
        self.assertEqual(node0.metric("ugate_mesh_connections_total", role="pool"), 1)

    def test_3_a_silent_node_expires(self):
        gone = self.nodes[2]
        gone.proc.kill()
        gone.proc.wait()
        wait_until(lambda: self.ids[2] not in discovered(self.nodes[0]), timeout=3 * INTERVAL + 2,
                   what="node 2 dropped after its TTL")
        self.assertIn(self.ids[1], discovered(self.nodes[0]), "the others stay")
        self.assertIn(f"lost node {self.ids[2]}", self.nodes[0].log())


if __name__ == "__main__":
    unittest.main()

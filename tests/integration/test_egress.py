"""The mesh port is not an open relay: an HBONE stream whose client names the destination may reach
only the serving node's own addresses (loopback and its interfaces) unless its mesh listener says
`egress: true`. Two nodes in one namespace, A reaching through B (`via`); an echo server on B's own
interface address and another in a second namespace, which B may reach only with egress."""
import socket
import unittest

from harness import Server, access_fields, echo, tcp_listener_yaml, wait_until
from netns import Netns, NetnsUgate, add_addr, link, needs_netns
from test_mesh import Mesh, spiffe


@needs_netns
class MeshPortEgress(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mesh = Mesh()
        cls.addClassCleanup(cls.mesh.close)
        cls.here, cls.there = Netns("eg1"), Netns("eg2")
        cls.addClassCleanup(lambda: [ns.delete() for ns in (cls.here, cls.there)])
        link(cls.here, "h0", cls.there, "t0")
        add_addr(cls.here, "h0", "10.86.0.1/24")
        add_addr(cls.there, "t0", "10.86.0.2/24")
        cls.own = cls.echo_in(cls.here, "10.86.0.1")       # on B's own interface address
        cls.remote = cls.echo_in(cls.there, "10.86.0.2")   # on another host

    @classmethod
    def echo_in(cls, ns, address):
        def bound():
            s = socket.socket()
            s.bind((address, 0))
            s.listen(16)
            return s
        server = Server(echo, sock=ns.call(bound))
        cls.addClassCleanup(server.sock.close)
        return server

    def node(self, name, listeners, nodes=None, extra=""):
        yaml = f"identity: {{ name: {name}, dns: [localhost], ca: {{ dir: '{self.mesh.ca}' }} }}\n{extra}\n"
        if nodes:
            yaml += "nodes:\n" + "".join(f"  {n}: {{ {spec} }}\n" for n, spec in nodes.items())
        ug = NetnsUgate(self.here, listeners, extra_yaml=yaml)
        ug.start()
        self.addCleanup(ug.__exit__)
        return ug

    def nodes(self, egress):
        """Gateway B (its mesh listener's egress as given) and A, whose two tcp listeners reach the
        echo servers through B."""
        opts = ", egress: true" if egress else ""
        b = self.node("b", f"[ {{ name: mesh, address: '127.0.0.1:0', protocol: mesh{opts} }} ]")
        listeners = (f"[ {tcp_listener_yaml('own', 0, f'10.86.0.1:{self.own.port}', via='b')}, "
                     f"  {tcp_listener_yaml('remote', 0, f'10.86.0.2:{self.remote.port}', via='b')} ]")
        a = self.node("a", listeners, nodes={"b": f"address: '127.0.0.1:{b.port('mesh')}', id: '{spiffe('b')}'"})
        return a, b

    def round_trip(self, a, listener):
        """b"ping" echoed through A's listener, or None when the stream was refused."""
        try:
            s = self.here.call(lambda: socket.create_connection(("127.0.0.1", a.port(listener)), timeout=10))
        except ConnectionResetError:  # refused so fast that the reset came before connect() returned
            return None
        with s:
            try:
                s.sendall(b"ping")
                return s.recv(4) or None
            except OSError:
                return None

    def test_by_default_only_the_nodes_own_addresses(self):
        a, b = self.nodes(egress=False)
        dialled = len(self.remote.threads)
        self.assertEqual(self.round_trip(a, "own"), b"ping")
        self.assertIsNone(self.round_trip(a, "remote"))
        refused = 'ugate_listener_errors_total{listener="mesh",reason="egress_denied"}'
        wait_until(lambda: b.metrics().get(refused) == 1, what="B counts the refusal")
        line = wait_until(lambda: access_fields(b, lambda f: f.get("result") == "egress_denied"),
                          what="B's access log")
        self.assertEqual(line[0]["dst"], f"10.86.0.2:{self.remote.port}")
        self.assertEqual(line[0]["peer_spiffe"], spiffe("a"))
        self.assertEqual(len(self.remote.threads), dialled, "nothing was dialled")
        # A hears a 403 and closes its client's stream as denied.
        wait_until(lambda: access_fields(a, lambda f: f.get("listener") == "remote" and f.get("result") == "denied"),
                   what="A's access log")

    def test_egress_true_relays_anywhere(self):
        a, b = self.nodes(egress=True)
        self.assertEqual(self.round_trip(a, "remote"), b"ping")
        self.assertEqual(self.round_trip(a, "own"), b"ping")
        self.assertEqual(b.metrics().get('ugate_listener_errors_total{listener="mesh",reason="egress_denied"}'), 0)


if __name__ == "__main__":
    unittest.main()

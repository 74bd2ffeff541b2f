"""The mesh data plane between real ugate processes: a stream to NODE:PORT
goes through an HBONE tunnel (HTTP/2 CONNECT over mTLS) from A's pool to B's
mesh port; interop both ways with python3-h2 over TLS."""
import contextlib
import json
import os
import resource
import selectors
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from h2peer import H2Client, H2ConnectServer
from harness import (UGATE, HttpOrigin, Server, Ugate, access_fields, both_ways_client, both_ways_server, closed_port,
                     curl, recv_all, tcp_listener_yaml, wait_until)

MIB = 1 << 20
TD = "cluster.local"


def spiffe(name):
    return f"spiffe://{TD}/ns/default/sa/{name}"


def run(*args):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"{args} exited {r.returncode}: {r.stderr}")
    return r.stdout


class Mesh:
    """A mini CA shared by the nodes of one test, and nodes made from it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ugate-mesh-")
        self.ca = os.path.join(self.dir, "ca")
        run(UGATE, "ca", "init", "--dir", self.ca)
        self.root = os.path.join(self.ca, "root-cert.pem")

    def node(self, name, listeners="[]", nodes=None, extra="", workers=2):
        """A ugate whose identity is spiffe(name), signed by this mesh's CA."""
        yaml = f"identity: {{ name: {name}, dns: [localhost], ca: {{ dir: '{self.ca}' }} }}\n{extra}\n"
        if nodes:
            yaml += "nodes:\n" + "".join(f"  {n}: {{ {spec} }}\n" for n, spec in nodes.items())
        return Ugate(listeners, extra_yaml=yaml, workers=workers)

    def cert(self, name, spiffe_id=None):
        """(cert, key) for a peer we did not write, signed by this mesh's CA."""
        key, req, crt = (os.path.join(self.dir, f"{name}.{ext}") for ext in ("key", "csr", "crt"))
        run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", req, "-subj", f"/CN={name}", "-addext",
            f"subjectAltName=URI:{spiffe_id or spiffe(name)}")
        run(UGATE, "ca", "sign", "--dir", self.ca, "--csr", req, "--out", crt)
        return crt, key

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def mesh_listener(port=0, name="mesh", **opts):
    extra = "".join(f", {k}: {v}" for k, v in opts.items())
    return f"{{ name: {name}, address: '127.0.0.1:{port}', protocol: mesh{extra} }}"


def mesh_address(node, name="mesh"):
    """HOST:PORT of a started node's mesh listener, for the config of a node that dials it (so that
    one starts after it)."""
    return f"127.0.0.1:{node.port(name)}"


class EchoMany:
    """An echo server for many connections at once, on one thread (selectors)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(2048)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ)
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            for key, _ in self.sel.select(0.1):
                if key.fileobj is self.sock:
                    try:
                        c, _ = self.sock.accept()
                    except OSError:
                        continue
                    self.accepted += 1
                    c.setblocking(False)
                    self.sel.register(c, selectors.EVENT_READ)
                    continue
                c = key.fileobj
                try:
                    data = c.recv(65536)
                except OSError:
                    data = b""
                if data:
                    c.sendall(data)  # small echoes: the socket buffer takes them
                else:
                    self.sel.unregister(c)
                    c.close()

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


def reset_within(test, port, seconds):
    """A client of `port` is reset (the stream failed) within `seconds`."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as c:
        c.settimeout(5)
        with test.assertRaises(ConnectionResetError):
            c.recv(1)
    test.assertLess(time.monotonic() - start, seconds)


class TwoNodes(unittest.TestCase):
    """client -> A (tcp forward to b:PORT) -> HBONE -> B (mesh port) -> a server beside B."""

    def setUp(self):
        self.mesh = Mesh()

    def tearDown(self):
        self.mesh.close()

    def node_b(self, **kw):
        return self.mesh.node("b", f"[ {mesh_listener()} ]", **kw)

    def node_a(self, b_address, target_port, b_id=None, workers=2, **opts):
        """A, whose listener to-b forwards to b:TARGET_PORT, B being at b_address (mesh_address(b): B started first)."""
        nodes = {"b": f"address: '{b_address}', id: '{b_id or spiffe('b')}'"}
        return self.mesh.node("a", f"[ {tcp_listener_yaml('to-b', 0, f'b:{target_port}', **opts)} ]", nodes,
                              workers=workers)

    def test_256_mib_each_way_byte_exact_by_node_id(self):
        total = 256 * MIB
        handler, server_side = both_ways_server(total, seed=5)
        server = Server(handler)
        with self.node_b() as b:
            b_id = json.loads(run(UGATE, "--config", b.config, "id", "--json"))["node_id"]
            self.assertEqual(len(b_id), 52)
            with self.node_a(mesh_address(b), server.port, b_id=b_id) as a:
                with socket.create_connection(("127.0.0.1", a.port("to-b"))) as c:
                    sent, got = both_ways_client(c, total, 6)
                wait_until(lambda: "sent" in server_side, what="server done")
                self.assertEqual(server.errors, [])
                self.assertEqual(server_side["received"], (total, sent), "B's server got A's client bytes")
                self.assertEqual(got, (total, server_side["sent"]), "A's client got B's server bytes")
                wait_until(lambda: a.metric("ugate_listener_closed_total", listener="to-b") == 1, what="A closed")
                wait_until(lambda: b.metric("ugate_listener_closed_total", listener="mesh") == 1, what="B closed")
                self.assertEqual(a.metric("ugate_mesh_connections_total", role="pool"), 1)
                self.assertEqual(b.metric("ugate_mesh_connections_total", role="served"), 1)
                self.assertEqual(b.metric("ugate_listener_bytes_total", listener="mesh", direction="up"), total)
                self.assertEqual(a.metric("ugate_listener_bytes_total", listener="to-b", direction="down"), total)
                self.assertEqual(a.stop(), 0)
                self.assertEqual(b.stop(), 0)
                [la] = access_fields(a, lambda f: f["listener"] == "to-b")
                self.assertEqual(la["dst"], f"b:{server.port}")
                self.assertEqual(la["upstream"], mesh_address(b), "A dialled B's mesh port")
                self.assertEqual(la["result"], "done")
                [lb] = access_fields(b, lambda f: f["listener"] == "mesh")
                self.assertEqual(lb["peer_spiffe"], spiffe("a"), "B knows A by its certificate")
                self.assertEqual(lb["dst"], f"127.0.0.1:{server.port}", "B dialled its own loopback")
                self.assertEqual((lb["bytes_up"], lb["result"]), (str(total), "done"))
        server.close()

    def test_1000_concurrent_streams_share_at_most_10_connections(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
        echo = EchoMany()
        n = 1000
        with self.node_b() as b, self.node_a(mesh_address(b), echo.port, workers=1) as a:
            clients = []
            try:
                for i in range(n):
                    c = socket.create_connection(("127.0.0.1", a.port("to-b")), timeout=20)
                    c.sendall(b"%06d" % i)
                    clients.append(c)
                for i, c in enumerate(clients):  # every stream is open at once now
                    got = b""
                    while len(got) < 6:
                        data = c.recv(6 - len(got))
                        self.assertTrue(data, f"stream {i} closed early")
                        got += data
                    self.assertEqual(got, b"%06d" % i)
                self.assertEqual(a.metric("ugate_listener_active_streams", listener="to-b"), n)
                pooled = a.metric("ugate_mesh_connections_total", role="pool")
                self.assertEqual(pooled, 10, "100 streams per connection")
                self.assertEqual(b.metric("ugate_mesh_connections_total", role="served"), pooled)
            finally:
                for c in clients:
                    c.close()
            wait_until(lambda: a.metric("ugate_listener_closed_total", listener="to-b") == n, timeout=30,
                       what="every stream done")
            self.assertEqual(a.metric("ugate_listener_errors_total", listener="to-b", reason="connect_refused"), 0)
            self.assertEqual(a.metric("ugate_mesh_pool_streams_total"), n)
            self.assertEqual(echo.accepted, n)
        echo.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    def test_a_peer_with_the_wrong_identity_is_refused(self):
        with self.node_b() as b, self.node_a(mesh_address(b), 9, b_id=spiffe("not-b")) as a:
            reset_within(self, a.port("to-b"), 2)
            wait_until(lambda: a.metric("ugate_listener_errors_total", listener="to-b", reason="cert_rejected") == 1,
                       what="cert_rejected counted")
            self.assertEqual(a.metric("ugate_mesh_pool_dial_failures_total", reason="cert_rejected"), 1)
            self.assertIn(f"it proved to be {spiffe('b')}", a.log())

    def test_a_node_that_is_down_fails_fast_with_a_clear_error(self):
        down = closed_port(self.addCleanup)  # nothing listens there
        with self.node_a(f"127.0.0.1:{down}", 9) as a:
            for _ in range(3):
                reset_within(self, a.port("to-b"), 1)
            wait_until(lambda: a.metric("ugate_listener_errors_total", listener="to-b", reason="connect_refused") == 3,
                       what="connect_refused counted")
            self.assertEqual(a.log().count("mesh: cannot connect to node b"), 1, "logged once, not per stream")
            self.assertIn(f"at 127.0.0.1:{down}: connect_refused", a.log())

    def test_refusal_by_the_far_node_reaches_the_client(self):
        closed = closed_port(self.addCleanup)
        with self.node_b() as b, self.node_a(mesh_address(b), closed) as a:
            reset_within(self, a.port("to-b"), 2)
            wait_until(lambda: a.metric("ugate_listener_errors_total", listener="to-b", reason="connect_refused") == 1,
                       what="A counts B's refusal")
            self.assertEqual(b.metric("ugate_listener_errors_total", listener="mesh", reason="connect_refused"), 1)


class ThreeNodes(unittest.TestCase):
    """A reaches destinations through a gateway node G: an egress through it,
    and node C, which A knows only behind G (CONNECT inside CONNECT, TLS end to end)."""

    def setUp(self):
        self.mesh = Mesh()
        self.origin = HttpOrigin()

    def tearDown(self):
        self.origin.close()
        self.mesh.close()

    def nodes(self, g_address, c_address):
        """A's nodes: G and C at their addresses (mesh_address() of the started nodes)."""
        return {"gw": f"address: '{g_address}', id: '{spiffe('gw')}'",
                "c": f"address: '{c_address}', id: '{spiffe('c')}', via: gw"}

    def test_egress_through_a_gateway_and_proxy_doors_naming_nodes(self):
        listeners = (f"[ {tcp_listener_yaml('egress', 0, f'127.0.0.1:{self.origin.port}', via='gw')}, "
                     "{ name: socks, address: '127.0.0.1:0', protocol: socks5 }, "
                     "{ name: http, address: '127.0.0.1:0', protocol: http-proxy, via: gw } ]")
        c_address = f"127.0.0.1:{closed_port(self.addCleanup)}"  # C does not run in this test: nothing listens there
        with self.mesh.node("gw", f"[ {mesh_listener()} ]") as g, \
                self.mesh.node("a", listeners, self.nodes(mesh_address(g), c_address)) as a:
            tcp, socks, http = a.port("egress"), a.port("socks"), a.port("http")
            with socket.create_connection(("127.0.0.1", tcp)) as conn:
                conn.sendall(b"GET /egress HTTP/1.0\r\n\r\n")
                self.assertIn(b"GET /egress", recv_all(conn))
            # A SOCKS5 client names the gateway node as <node>.<trust domain>: a port on its loopback.
            rc, out, err = curl("--socks5-hostname", f"127.0.0.1:{socks}",
                                f"http://gw.{TD}:{self.origin.port}/by-socks")
            self.assertEqual((rc, err), (0, ""))
            self.assertIn(b"GET /by-socks", out)
            rc, out, err = curl("-x", f"http://127.0.0.1:{http}", f"http://127.0.0.1:{self.origin.port}/by-http")
            self.assertEqual((rc, err), (0, ""))
            self.assertIn(b"GET /by-http", out)
            self.assertEqual(a.stop(), 0)
            self.assertEqual(g.stop(), 0)
            seen = access_fields(g, lambda f: f["listener"] == "mesh")
            self.assertEqual(len(seen), 3, "every stream went through the gateway")
            for f in seen:
                self.assertEqual(f["peer_spiffe"], spiffe("a"))
                self.assertEqual(f["upstream"], f"127.0.0.1:{self.origin.port}")
            [s] = access_fields(a, lambda f: f["listener"] == "socks")
            self.assertEqual((s["dst"], s["upstream"]), (f"gw.{TD}:{self.origin.port}", mesh_address(g)))

    def test_double_hbone_to_a_node_behind_the_gateway(self):
        total = 32 * MIB
        handler, server_side = both_ways_server(total, seed=9)
        server = Server(handler)
        with self.mesh.node("gw", f"[ {mesh_listener()} ]") as g, \
                self.mesh.node("c", f"[ {mesh_listener()} ]") as c, \
                self.mesh.node("a", f"[ {tcp_listener_yaml('to-c', 0, f'c:{server.port}')} ]",
                               self.nodes(mesh_address(g), mesh_address(c)), workers=1) as a:
            for i in range(2):  # the second stream reuses both connections
                with socket.create_connection(("127.0.0.1", a.port("to-c"))) as conn:
                    sent, got = both_ways_client(conn, total, 10 + i)
                wait_until(lambda: "sent" in server_side, what="server done")
                self.assertEqual(server_side.pop("received"), (total, sent))
                self.assertEqual(got, (total, server_side.pop("sent")))
            self.assertEqual(a.metric("ugate_mesh_connections_total", role="pool"), 2, "to G, and to C inside it")
            self.assertEqual(g.metric("ugate_listener_closed_total", listener="mesh"), 0,
                             "G's stream to C carries both: it stays open")
            for n in (a, c, g):
                self.assertEqual(n.stop(), 0)
            [gline] = access_fields(g, lambda f: f["listener"] == "mesh")
            self.assertEqual((gline["peer_spiffe"], gline["dst"]), (spiffe("a"), mesh_address(c)))
            clines = access_fields(c, lambda f: f["listener"] == "mesh")
            self.assertEqual(len(clines), 2)
            for f in clines:  # TLS from A to C end to end: C knows A, not the gateway
                self.assertEqual(f["peer_spiffe"], spiffe("a"))
                self.assertEqual((f["bytes_up"], f["result"]), (str(total), "done"))
        server.close()


class ProxyProtocolV2(unittest.TestCase):
    """B's mesh listener with proxy_protocol: v2 tells the app behind it who
    the client was: HAProxy (accept-proxy) reads the header, and a raw reader
    checks the SPIFFE ID in TLV 0xD0."""

    def setUp(self):
        self.mesh = Mesh()

    def tearDown(self):
        self.mesh.close()

    @contextlib.contextmanager
    def two_nodes(self, target_port):
        """B, then A (whose config names B's mesh port): (a, b, A's port)."""
        with self.mesh.node("b", f"[ {mesh_listener(proxy_protocol='v2')} ]") as b:
            nodes = {"b": f"address: '{mesh_address(b)}', id: '{spiffe('b')}'"}
            with self.mesh.node("a", f"[ {tcp_listener_yaml('to-b', 0, f'b:{target_port}')} ]", nodes) as a:
                yield a, b, a.port("to-b")

    def test_haproxy_learns_the_original_client(self):
        origin = HttpOrigin()
        # HAProxy takes no port 0; it listens on a socket bound here (port 0) and handed to it.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        hp_port = listener.getsockname()[1]
        cfg = os.path.join(self.mesh.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write("defaults\n  mode http\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n"
                    f"frontend fe\n  bind fd@{listener.fileno()} accept-proxy\n"
                    "  http-request set-header X-Src %[src]:%[src_port]\n  default_backend be\n"
                    f"backend be\n  server o 127.0.0.1:{origin.port}\n")
        hp = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              pass_fds=[listener.fileno()])
        listener.close()  # haproxy's now; connections wait in its backlog until haproxy takes them
        try:
            with self.two_nodes(hp_port) as (a, b, a_port):
                with socket.create_connection(("127.0.0.1", a_port)) as c:
                    client = "%s:%d" % c.getsockname()
                    c.sendall(b"GET /pp HTTP/1.0\r\n\r\n")
                    self.assertIn(b"GET /pp", recv_all(c))
                [(method, path, headers, _)] = origin.requests
                headers = {k.lower(): v for k, v in headers.items()}  # HAProxy sends names in lower case
                self.assertEqual(headers["x-src"], client, "the client's own address, through A and B")
        finally:
            hp.terminate()
            hp.wait(10)
            origin.close()

    def test_the_header_carries_the_peer_identity_in_tlv_0xd0(self):
        got = {}

        def reader(conn):
            head = b""
            while len(head) < 16:
                head += conn.recv(16 - len(head))
            n = int.from_bytes(head[14:16], "big")
            rest = b""
            while len(rest) < n:
                rest += conn.recv(n - len(rest))
            got["head"], got["rest"] = head, rest
            conn.sendall(b"ok")

        server = Server(reader)
        with self.two_nodes(server.port) as (a, b, a_port):
            with socket.create_connection(("127.0.0.1", a_port)) as c:
                self.assertEqual(recv_all(c), b"ok")
                src_port = c.getsockname()[1]
        head, rest = got["head"], got["rest"]
        self.assertEqual(head[:12], b"\r\n\r\n\x00\r\nQUIT\n")
        self.assertEqual(head[12:14], b"\x21\x11", "v2 PROXY, TCP over IPv4")
        self.assertEqual(int.from_bytes(rest[8:10], "big"), src_port, "the original client's port")
        self.assertEqual(int.from_bytes(rest[10:12], "big"), server.port)
        self.assertEqual(rest[12], 0xD0)
        self.assertEqual(rest[15:15 + int.from_bytes(rest[13:15], "big")].decode(), spiffe("a"))
        server.close()

    def test_a_ztunnel_forwarded_without_a_port_names_the_client_with_port_0(self):
        """ztunnel sends `forwarded: for=IP` (no port): the header names that IP, port 0, not the peer."""
        got = []

        def reader(conn):
            head = b""
            while len(head) < 16 or len(head) < 16 + int.from_bytes(head[14:16], "big"):
                data = conn.recv(4096)
                if not data:
                    break
                head += data
            got.append(head)
            conn.sendall(b"ok")

        server = Server(reader)
        cert, key = self.mesh.cert("zt")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.mesh.root)
        ctx.check_hostname = False
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["h2"])
        with self.mesh.node("b", f"[ {mesh_listener(proxy_protocol='v2')} ]") as b:
            tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", b.port("mesh")), timeout=10))
            c = H2Client(tls)
            for forwarded in ("for=10.1.2.3", 'for="[2001:db8::7]"'):
                sid = c.connect(f"127.0.0.1:{server.port}", [("forwarded", forwarded)])
                self.assertEqual(c.response(sid)[":status"], "200")
                self.assertEqual(c.receive_all(sid), b"ok")
            c.close()
        v4, v6 = got
        self.assertEqual(v4[12:14], b"\x21\x11")
        self.assertEqual(v4[16:20], bytes([10, 1, 2, 3]), "the client ztunnel named")
        self.assertEqual(int.from_bytes(v4[24:26], "big"), 0, "its port is unknown")
        self.assertEqual(v6[12:14], b"\x21\x21", "an IPv6 client: TCP over IPv6")
        self.assertEqual(socket.inet_ntop(socket.AF_INET6, v6[16:32]), "2001:db8::7")
        server.close()


class Interop(unittest.TestCase):
    """HBONE with an HTTP/2 implementation we did not write (python3-h2), over mTLS."""

    def setUp(self):
        self.mesh = Mesh()

    def tearDown(self):
        self.mesh.close()

    def test_python_h2_client_with_a_certificate_through_the_mesh_port(self):
        total = 4 * MIB
        handler, server_side = both_ways_server(total, seed=11)
        server = Server(handler)
        cert, key = self.mesh.cert("py")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.mesh.root)
        ctx.check_hostname = False  # mesh peers are named by SPIFFE ID, not DNS
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["h2"])
        with self.mesh.node("b", f"[ {mesh_listener()} ]") as b:
            tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", b.port("mesh")), timeout=10))
            self.assertEqual(tls.selected_alpn_protocol(), "h2")
            c = H2Client(tls)
            sid = c.connect(f"127.0.0.1:{server.port}", [("baggage", "k8s.namespace.name=default")])
            self.assertEqual(c.response(sid)[":status"], "200")
            sent, got = c.both_ways(sid, total, 12)
            c.close()
            wait_until(lambda: "sent" in server_side, what="upstream done")
            self.assertEqual(server_side["received"], (total, sent))
            self.assertEqual(got, (total, server_side["sent"]))
            self.assertEqual(b.stop(), 0)
            [line] = access_fields(b, lambda f: f["listener"] == "mesh")
            self.assertEqual(line["peer_spiffe"], spiffe("py"))
            self.assertEqual(line["result"], "done")
        server.close()

    def test_ugate_client_to_a_python_h2_connect_server_over_mtls(self):
        origin = Server(lambda conn: conn.sendall(b"reply to " + recv_all(conn)))
        cert, key = self.mesh.cert("pyserver")
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cert, key)
        sctx.load_verify_locations(self.mesh.root)
        sctx.verify_mode = ssl.CERT_REQUIRED  # the mesh port's rule: the client proves who it is
        sctx.set_alpn_protocols(["h2"])
        peer_certs = []

        def wrap(s):
            t = sctx.wrap_socket(s, server_side=True)
            peer_certs.append(t.getpeercert())
            return t

        h2server = H2ConnectServer(wrap=wrap)
        nodes = {"py": f"address: '127.0.0.1:{h2server.port}', id: '{spiffe('pyserver')}'"}
        # One worker: each worker has a pool of its own.
        with self.mesh.node("a", f"[ {tcp_listener_yaml('to-py', 0, f'py:{origin.port}')} ]", nodes, workers=1) as a:
            for i in range(3):  # three streams, one connection
                with socket.create_connection(("127.0.0.1", a.port("to-py"))) as c:
                    c.sendall(b"hello %d" % i)
                    c.shutdown(socket.SHUT_WR)
                    c.settimeout(10)
                    self.assertEqual(recv_all(c), b"reply to hello %d" % i)
            self.assertEqual(h2server.errors, [])
            self.assertEqual(h2server.connections, 1)
            self.assertEqual(len(h2server.requests), 3)
            authority, headers = h2server.requests[0]
            self.assertEqual(authority, f"127.0.0.1:{origin.port}")
            self.assertTrue(headers["forwarded"].startswith('for="127.0.0.1:'), headers)
            self.assertRegex(headers["traceparent"], r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
            sans = dict((k, v) for k, v in peer_certs[0]["subjectAltName"])
            self.assertEqual(sans["URI"], spiffe("a"), "ugate presented its own certificate")
            self.assertEqual(a.stop(), 0)
        h2server.close()
        origin.close()

    def test_a_node_by_name_asks_a_ztunnel_peer_for_its_workload_address(self):
        """A ztunnel serves only its workloads' addresses: a node with workload_address is asked for
        WORKLOAD:PORT; one without is asked for 127.0.0.1:PORT, which the ztunnel refuses."""
        workload = "127.0.0.2"  # the workload beside the ztunnel: another loopback address
        listening = socket.socket()
        listening.bind((workload, 0))
        listening.listen(16)
        origin = Server(lambda conn: conn.sendall(b"reply to " + recv_all(conn)), sock=listening)
        cert, key = self.mesh.cert("zt")
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cert, key)
        sctx.load_verify_locations(self.mesh.root)
        sctx.verify_mode = ssl.CERT_REQUIRED
        sctx.set_alpn_protocols(["h2"])
        ztunnel = H2ConnectServer(wrap=lambda s: sctx.wrap_socket(s, server_side=True),
                                  accept_authority=lambda a: a.rpartition(":")[0] == workload)
        at = f"address: '127.0.0.1:{ztunnel.port}', id: '{spiffe('zt')}'"
        nodes = {"zt": f"{at}, workload_address: '{workload}'", "plain": at}
        listeners = (f"[ {tcp_listener_yaml('to-zt', 0, f'zt:{origin.port}')}, "
                     f"{tcp_listener_yaml('to-plain', 0, f'plain:{origin.port}')} ]")
        with self.mesh.node("a", listeners, nodes, workers=1) as a:
            with socket.create_connection(("127.0.0.1", a.port("to-zt"))) as c:
                c.sendall(b"hello")
                c.shutdown(socket.SHUT_WR)
                c.settimeout(10)
                self.assertEqual(recv_all(c), b"reply to hello")
            reset_within(self, a.port("to-plain"), 5)
            self.assertEqual([authority for authority, _ in ztunnel.requests],
                             [f"{workload}:{origin.port}", f"127.0.0.1:{origin.port}"])
            self.assertEqual(ztunnel.errors, [])
            self.assertEqual(a.stop(), 0)
            [refused] = access_fields(a, lambda f: f["listener"] == "to-plain")
            self.assertEqual(refused["result"], "bad_request", "the ztunnel's 400")
        ztunnel.close()
        origin.close()


if __name__ == "__main__":
    unittest.main()

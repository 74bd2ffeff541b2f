"""HTTP/2 CONNECT peers built on python3-h2 (Debian's, under /usr/bin/python3):
an implementation we did not write, to check ugate's HBONE both ways.

H2Client opens CONNECT streams on one connection (h2c, or TLS when given a
wrapped socket); H2ConnectServer accepts CONNECT streams and tunnels each to
its :authority over TCP, answering 200 only once that connection is up (its
connections are accepted by harness.Server, a thread each).
Both are blocking and bounded by timeouts; flow control is honoured.
"""
import hashlib
import socket
import threading
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from harness import RandomStream, Server


class StreamState:
    def __init__(self):
        self.headers = None
        self.data = bytearray()
        self.ended = False
        self.reset = None  # the RST_STREAM error code


class H2Client:
    """A CONNECT client on one HTTP/2 connection."""

    def __init__(self, sock, timeout=20):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.timeout = timeout
        # CONNECT has no :path or :scheme: h2 must not insist on them.
        config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                           header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config)
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
        self.conn.increment_flow_control_window(15 << 20)
        self.streams = {}
        self.goaway = None
        self.flush()

    @classmethod
    def tcp(cls, port, host="127.0.0.1", **kw):
        return cls(socket.create_connection((host, port), timeout=10), **kw)

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def connect(self, authority, headers=()):
        sid = self.conn.get_next_available_stream_id()
        self.streams[sid] = StreamState()
        self.conn.send_headers(sid, [(":method", "CONNECT"), (":authority", authority)] + list(headers))
        self.flush()
        return sid

    def pump(self):
        """Reads once and handles what arrived; False when the connection ended."""
        data = self.sock.recv(1 << 20)
        if not data:
            return False
        for e in self.conn.receive_data(data):
            st = self.streams.get(getattr(e, "stream_id", None))
            if isinstance(e, h2.events.ResponseReceived) and st:
                st.headers = dict(e.headers)
            elif isinstance(e, h2.events.DataReceived):
                if st:
                    st.data += e.data
                # Credit at once: the test reads everything it is sent.
                self.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, h2.events.StreamEnded) and st:
                st.ended = True
            elif isinstance(e, h2.events.StreamReset) and st:
                st.reset = e.error_code
            elif isinstance(e, h2.events.ConnectionTerminated):
                self.goaway = e.error_code
        self.flush()
        return True

    def _until(self, predicate):
        deadline = time.monotonic() + self.timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting on the HTTP/2 peer")
            if not self.pump():
                break
        return predicate()

    def response(self, sid):
        """The response headers (a dict), or None when the stream was reset first."""
        st = self.streams[sid]
        self._until(lambda: st.headers is not None or st.reset is not None)
        return st.headers

    def send(self, sid, data, end=False):
        view = memoryview(data)
        while view:
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                if not self.pump():
                    raise AssertionError("connection ended while sending")
                continue
            self.conn.send_data(sid, bytes(view[:window]))
            view = view[window:]
            self.flush()
        if end:
            self.end(sid)

    def end(self, sid):
        self.conn.end_stream(sid)
        self.flush()

    def reset(self, sid, code=h2.errors.ErrorCodes.CONNECT_ERROR):
        self.conn.reset_stream(sid, code)
        self.flush()

    def receive_all(self, sid):
        """Everything until END_STREAM; raises on a reset."""
        st = self.streams[sid]
        self._until(lambda: st.ended or st.reset is not None)
        if st.reset is not None and not st.ended:
            raise ConnectionResetError(f"stream {sid} reset with code {st.reset}")
        return bytes(st.data)

    def both_ways(self, sid, total, seed):
        """harness.both_ways_client over stream `sid`: sends `total` seeded bytes (then END_STREAM)
        and reads to the end of the stream; (sha of what went, (count, sha) of what came)."""
        up = RandomStream(seed, total)
        for chunk in up:
            self.send(sid, chunk)
        self.end(sid)
        got = self.receive_all(sid)
        return up.sha.hexdigest(), (len(got), hashlib.sha256(got).hexdigest())

    def wait_reset(self, sid):
        st = self.streams[sid]
        self._until(lambda: st.reset is not None)
        return st.reset

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except (OSError, h2.exceptions.ProtocolError):
            pass
        self.sock.close()


class H2ConnectServer:
    """An HBONE-style CONNECT server on python3-h2: one thread per connection,
    each stream tunnelled to its :authority over TCP (200 once connected,
    502 when the connection is refused). With `accept_authority`, an
    authority it returns False for is refused with 400, as a ztunnel refuses
    one that is not an address of its workloads."""

    def __init__(self, wrap=None, accept_authority=None):
        self.wrap = wrap  # e.g. an ssl.SSLContext.wrap_socket for TLS
        self.accept_authority = accept_authority
        self.requests = []  # (authority, headers) of every CONNECT seen
        self.connections = 0
        self.server = Server(self._serve, backlog=64)
        self.port = self.server.port
        self.errors = self.server.errors  # what a connection raised (a failed handshake too)

    def close(self):
        self.server.close()

    def _serve(self, s):
        self.connections += 1
        if self.wrap:
            s = self.wrap(s)
        _ServerConnection(self, s).run()


class _ServerConnection:
    def __init__(self, server, sock):
        self.server = server
        self.sock = sock
        config = h2.config.H2Configuration(client_side=False, validate_inbound_headers=False,
                                           header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config)
        self.lock = threading.Lock()  # h2 state is shared with the upstream reader threads
        self.upstreams = {}
        self.pending = {}  # bytes for a stream that its flow-control window did not take yet

    def send(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def run(self):
        with self.lock:
            self.conn.initiate_connection()
            self.send()
        while True:
            data = self.sock.recv(1 << 20)
            if not data:
                break
            with self.lock:
                events = self.conn.receive_data(data)
                for e in events:
                    self.handle(e)
                self.flush_pending()
                self.send()
        for up in list(self.upstreams.values()):
            up.close()

    def handle(self, e):
        if isinstance(e, h2.events.RequestReceived):
            headers = dict(e.headers)
            self.server.requests.append((headers.get(":authority"), headers))
            if self.server.accept_authority and not self.server.accept_authority(headers[":authority"]):
                self.conn.send_headers(e.stream_id, [(":status", "400")], end_stream=True)
                return
            host, _, port = headers[":authority"].rpartition(":")
            try:
                up = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
            except OSError:
                self.conn.send_headers(e.stream_id, [(":status", "502")], end_stream=True)
                return
            self.upstreams[e.stream_id] = up
            self.conn.send_headers(e.stream_id, [(":status", "200")])
            threading.Thread(target=self.from_upstream, args=(e.stream_id, up), daemon=True).start()
        elif isinstance(e, h2.events.DataReceived):
            up = self.upstreams.get(e.stream_id)
            if up:
                up.sendall(e.data)
            self.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        elif isinstance(e, h2.events.StreamEnded):
            up = self.upstreams.get(e.stream_id)
            if up:
                up.shutdown(socket.SHUT_WR)
        elif isinstance(e, h2.events.StreamReset):
            up = self.upstreams.pop(e.stream_id, None)
            if up:
                up.close()

    def flush_pending(self):
        for sid in list(self.pending):
            data, end = self.pending[sid]
            try:
                n = min(len(data), self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            except h2.exceptions.StreamClosedError:
                del self.pending[sid]
                continue
            if n:
                self.conn.send_data(sid, data[:n])
                data = data[n:]
            if data:
                self.pending[sid] = (data, end)
                continue
            del self.pending[sid]
            if end:
                self.conn.end_stream(sid)

    def from_upstream(self, sid, up):
        while True:
            try:
                data = up.recv(1 << 16)
            except OSError:
                data = b""
            with self.lock:
                old, _ = self.pending.get(sid, (b"", False))
                self.pending[sid] = (old + data, not data)
                self.flush_pending()
                self.send()
            if not data:
                return
            # Bounded: wait while the stream's window holds us back.
            while True:
                with self.lock:
                    if sid not in self.pending or len(self.pending[sid][0]) < (1 << 20):
                        break
                time.sleep(0.005)

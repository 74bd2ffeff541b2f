"""Clients that behave as an attacker would (issue 14): many slow keep-alive clients of the HTTP
proxy in front of a slow origin; HTTP/2 clients that grant no window, reset every stream they open,
send a header block HPACK cannot take, or never finish their preface. Each must be counted and
closed by its own reason, memory must stay bounded, and the process must live on."""
import asyncio
import os
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

import hpack

from harness import SANITIZED, Server, Ugate, listening_port, tcp_listener_yaml, wait_until

HTTP_PROXY = "{ name: web, address: '127.0.0.1:0', protocol: http-proxy, response_timeout: 5s }"


async def slow_client(port, origin, duration, interval, stats):
    """One absolute-form request, the first byte of its answer, then a second request trickled one
    byte per `interval` until `duration` ends (or ugate closes the connection)."""
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    except (OSError, asyncio.TimeoutError):
        stats["connect_failed"] += 1
        return
    stats["opened"] += 1
    request = f"GET http://{origin}/ HTTP/1.1\r\nHost: {origin}\r\n\r\n".encode()
    second = f"GET http://{origin}/ HTTP/1.1\r\nHost: {origin}\r\nX-Slow: {'a' * 200}\r\n\r\n".encode()
    start = time.monotonic()
    try:
        w.write(request)
        await w.drain()
        try:
            await asyncio.wait_for(r.read(1), 5)
        except asyncio.TimeoutError:
            pass
        reader = asyncio.ensure_future(r.read(1 << 20))
        for i in range(len(second)):
            if time.monotonic() - start > duration or reader.done():
                break
            w.write(second[i:i + 1])
            await w.drain()
            await asyncio.wait([reader], timeout=interval)
        reader.cancel()
    except OSError:
        pass
    finally:
        w.close()


async def slow_clients(port, origin, n, duration, interval):
    stats = {"opened": 0, "connect_failed": 0}
    tasks = []
    for i in range(n):
        tasks.append(asyncio.ensure_future(slow_client(port, origin, duration, interval, stats)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*tasks), duration + 30)
    return stats


class SlowProxyClients(unittest.TestCase):
    """The load of ../shared/repro/http_proxy_double_free.sh: once a release build aborted under it
    ("free(): double free detected in tcache 2"). Labelled slow; under ASan in `make test`."""

    def test_500_slow_keep_alive_clients_of_a_slow_origin(self):
        resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
        # Debian's single-threaded http.server (listen backlog 5): slow, and it refuses or drops
        # connections under this load, which takes ugate through its failure answers.
        origin = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
                                  cwd=os.path.dirname(__file__), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            origin_port = listening_port(origin, "http.server")
            with Ugate("[ " + HTTP_PROXY + " ]") as ug:
                stats = asyncio.run(slow_clients(ug.port("web"), f"127.0.0.1:{origin_port}", 500, 20, 2))
                self.assertGreater(stats["opened"], 400, stats)
                self.assertIsNone(ug.proc.poll(), ug.log()[-2000:])
                self.assertTrue(ug.ready())
                wait_until(lambda: ug.metric("ugate_listener_active_streams", listener="web") == 0, timeout=30,
                           what="every connection closed")
                closed = ug.metric("ugate_listener_closed_total", listener="web")
                self.assertGreaterEqual(closed, stats["opened"])
                self.assertEqual(ug.stop(), 0, ug.log()[-2000:])
        finally:
            origin.kill()
            origin.wait()


# Raw HTTP/2 frames (RFC 9113 section 4.1): what a hostile client sends is not what a library lets it.
DATA, HEADERS, RST_STREAM, SETTINGS, GOAWAY, CONTINUATION = 0, 1, 3, 4, 7, 9
END_HEADERS, ACK = 4, 1
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def connect_request(authority, extra=()):
    return hpack.Encoder().encode([(":method", "CONNECT"), (":authority", authority), *extra])


def read_frames(sock, until, timeout=10):
    """Frames (kind, flags, stream, payload) read until `until(frames)` or EOF; then whether EOF came."""
    sock.settimeout(timeout)
    buf, frames, deadline = b"", [], time.monotonic() + timeout
    while time.monotonic() < deadline and not until(frames):
        try:
            data = sock.recv(1 << 16)
        except ConnectionResetError:
            return frames, True
        except socket.timeout:
            break
        if not data:
            return frames, True
        buf += data
        while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
            n = int.from_bytes(buf[:3], "big")
            frames.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + n]))
            buf = buf[9 + n:]
    return frames, False


class Hose:
    """A fast upstream: every connection gets bytes as fast as it takes them. Counts connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(5)

    async def _serve(self):
        self.server = await asyncio.start_server(self._pour, sock=self.sock, backlog=4096)

    async def _pour(self, r, w):
        self.accepted += 1
        # A small send buffer: what waits in the kernel per connection stays small, so a thousand
        # connections cost this process little while ugate holds what it read.
        w.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
        chunk = b"x" * (1 << 14)
        try:
            for _ in range(1 << 14):  # 256 MiB at most
                w.write(chunk)
                await w.drain()
        except OSError:
            pass
        w.close()

    def close(self):
        async def stop():
            self.server.close()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)


H2C = "{{ name: h2c, address: '127.0.0.1:0', protocol: hbone-h2c{extra} }}"


class HostileHttp2(unittest.TestCase):
    def gate(self, **opts):
        """ugate with the h2c listener on a port the kernel picks: ug.port("h2c")."""
        extra = "".join(f", {k}: {v}" for k, v in opts.items())
        return Ugate("[ " + H2C.format(extra=extra) + " ]")

    def test_zero_window_streams_to_a_fast_upstream_hold_bounded_memory(self):
        hose = Hose()
        try:
            with self.gate() as ug:
                start = ug.rss()
                s = socket.create_connection(("127.0.0.1", ug.port("h2c")))
                # SETTINGS_INITIAL_WINDOW_SIZE 0: nothing may be sent to us, and we never read.
                s.sendall(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 0)) + frame(SETTINGS, ACK, 0))
                block = connect_request(f"127.0.0.1:{hose.port}")
                s.sendall(b"".join(frame(HEADERS, END_HEADERS, 1 + 2 * i, block) for i in range(1000)))
                wait_until(lambda: hose.accepted == 1000, timeout=30, what="1000 upstream connections")
                peak = 0
                for _ in range(30):  # 3 s with the upstreams pouring
                    peak = max(peak, ug.rss())
                    time.sleep(0.1)
                queued = ug.metric("ugate_mesh_send_queued_bytes")
                self.assertLessEqual(queued, 4 << 20, "the connection's send queues are capped")
                s.close()
                wait_until(lambda: ug.metric("ugate_listener_active_streams", listener="h2c") == 0, timeout=20,
                           what="every stream closed")
                self.assertEqual(ug.metric("ugate_mesh_send_queued_bytes"), 0)
                if not SANITIZED:
                    self.assertLess(peak, 64 << 20, f"peak RSS {peak >> 20} MiB for 1000 stalled streams")
                    wait_until(lambda: ug.rss() <= start * 1.2, timeout=10,
                               what=f"RSS back within 20% of {start >> 10} KiB (now {ug.rss() >> 10} KiB)")
        finally:
            hose.close()

    def test_rapid_reset_dials_nothing_and_ends_the_connection(self):
        hose = Hose()
        try:
            with self.gate() as ug:
                s = socket.create_connection(("127.0.0.1", ug.port("h2c")))
                s.sendall(PREFACE + frame(SETTINGS, 0, 0) + frame(SETTINGS, ACK, 0))
                block = connect_request(f"127.0.0.1:{hose.port}")
                flood = b"".join(frame(HEADERS, END_HEADERS, sid, block) + frame(RST_STREAM, 0, sid, struct.pack(">I", 8))
                                 for sid in range(1, 10000, 2))
                try:
                    s.sendall(flood)
                except OSError:
                    pass  # closed on us mid-flood: what should happen
                frames, eof = read_frames(s, lambda f: any(k == GOAWAY for k, *_ in f))
                goaway = [p for k, _, _, p in frames if k == GOAWAY]
                self.assertTrue(goaway, frames)
                self.assertEqual(struct.unpack(">I", goaway[0][4:8])[0], 0xB, "ENHANCE_YOUR_CALM")
                wait_until(lambda: ug.metric("ugate_mesh_connections_closed_total", reason="too_many_resets") == 1,
                           what="counted by its reason")
                self.assertEqual(ug.metric("ugate_mesh_connections_closed_total", reason="peer_closed"), 0)
                self.assertGreaterEqual(ug.metric("ugate_mesh_streams_reset_early_total"), 100)
                time.sleep(0.5)
                self.assertEqual(hose.accepted, 0, "no stream already reset was dialled")
                s.close()
                self.assertTrue(ug.ready())
        finally:
            hose.close()

    def test_a_header_block_hpack_cannot_take_is_a_protocol_error_at_once(self):
        with self.gate() as ug:
            s = socket.create_connection(("127.0.0.1", ug.port("h2c")))
            s.sendall(PREFACE + frame(SETTINGS, 0, 0))
            block = connect_request("127.0.0.1:9", [("x-big", os.urandom(150000).hex())])
            parts = [block[i:i + 16000] for i in range(0, len(block), 16000)]
            s.sendall(frame(HEADERS, 0, 1, parts[0]) + b"".join(
                frame(CONTINUATION, END_HEADERS if i == len(parts) - 1 else 0, 1, p) for i, p in enumerate(parts[1:], 1)))
            start = time.monotonic()
            frames, eof = read_frames(s, lambda f: False, timeout=10)
            self.assertTrue(eof, "closed, not left to the keepalive")
            self.assertLess(time.monotonic() - start, 5)
            self.assertIn(GOAWAY, [k for k, *_ in frames])
            wait_until(lambda: ug.metric("ugate_mesh_connections_closed_total", reason="protocol_error") == 1,
                       what="counted as a protocol error")
            self.assertEqual(ug.metric("ugate_mesh_connections_closed_total", reason="keepalive_timeout"), 0)

    def test_an_unfinished_preface_is_closed_at_the_sniff_timeout(self):
        with self.gate(sniff_timeout="1s") as ug:
            silent = socket.create_connection(("127.0.0.1", ug.port("h2c")))
            partial = socket.create_connection(("127.0.0.1", ug.port("h2c")))
            partial.sendall(PREFACE[:10])
            start = time.monotonic()
            for s in (silent, partial):
                frames, eof = read_frames(s, lambda f: False, timeout=10)
                self.assertTrue(eof)
            self.assertLess(time.monotonic() - start, 4, "closed near sniff_timeout, not at the 40 s keepalive")
            wait_until(lambda: ug.metric("ugate_mesh_connections_closed_total", reason="preface_timeout") == 2,
                       what="counted as preface_timeout")


class OutOfDescriptors(unittest.TestCase):
    """/metrics said open_fds 0 and RSS 0 exactly when it mattered: when the process had no
    descriptor left to open /proc with."""

    def test_metrics_still_count_when_no_descriptor_is_left(self):
        release = threading.Event()
        server = Server(lambda conn: release.wait(30))
        with Ugate(f"[ {tcp_listener_yaml('web', 0, f'127.0.0.1:{server.port}')} ]") as ug:
            fd_dir = f"/proc/{ug.proc.pid}/fd"
            # Counted while the admin connection is open (it may or may not be closed by now).
            self.assertIn(ug.metric("ugate_process_open_fds") - len(os.listdir(fd_dir)), (0, 1))
            clients = [socket.create_connection(("127.0.0.1", ug.port("web"))) for _ in range(10)]
            wait_until(lambda: ug.metric("ugate_listener_active_streams", listener="web") == 10, what="streams open")
            time.sleep(0.3)
            # Leave exactly one descriptor number free: the lowest free one, or the next above.
            fds = sorted(map(int, os.listdir(fd_dir)))
            holes = fds[-1] + 1 - len(fds)
            self.assertLessEqual(holes, 1, fds)
            limit = fds[-1] + 1 if holes else fds[-1] + 2
            subprocess.run(["prlimit", f"--pid={ug.proc.pid}", f"--nofile={limit}:{limit}"], check=True)
            self.assertEqual(len(os.listdir(fd_dir)), limit - 1)
            # The admin connection takes the last one: /proc cannot be opened any more.
            metrics = ug.metrics()
            self.assertEqual(metrics["ugate_process_open_fds"], limit)
            self.assertGreater(metrics["ugate_process_resident_memory_bytes"], 1 << 20)
            for c in clients:
                c.close()
            self.assertIsNone(ug.proc.poll())
        release.set()
        server.close()


if __name__ == "__main__":
    unittest.main()

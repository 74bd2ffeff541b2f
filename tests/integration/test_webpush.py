"""The push service (listener protocol: webpush) and `ugate push`, against npm web-push and
http_ece: RFC 8030 behaviours (TTL, Topic, status codes, durability across a restart) and
RFC 8291/8292 interop in both directions. npm packages are installed by the test into
UGATE_NPM_DIR (the build dir), never into the repository."""
import base64
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

from harness import UGATE, Ugate, kept_port, npm_modules, wait_until, temp_dir

NPM_PACKAGES = ["web-push@3.6.7", "http_ece@1.2.0"]
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "webpush_peer.js")


def make_cert(directory):
    key, cert = os.path.join(directory, "push.key"), os.path.join(directory, "push.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-subj", "/CN=localhost", "-days", "1",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True, timeout=30)
    return key, cert


class PushBase(unittest.TestCase):
    max_pending = 100

    @classmethod
    def setUpClass(cls):
        cls.dir = temp_dir("ugate-push-")
        cls.key, cls.cert = make_cert(cls.dir)
        # Subscribers save endpoints that name the service's origin, and the service restarts under them
        # (test_restart_between_push_and_delivery_loses_nothing): a port fixed before it starts, kept.
        cls.port = kept_port(cls.addClassCleanup)
        cls.env = dict(os.environ, NODE_PATH=npm_modules(*NPM_PACKAGES), NODE_EXTRA_CA_CERTS=cls.cert)
        cls.yaml = (f"[ {{ name: push, address: '127.0.0.1:{cls.port}', protocol: webpush, "
                    f"tls: {{ cert: '{cls.cert}', key: '{cls.key}' }}, "
                    f"webpush: {{ max_pending: {cls.max_pending} }} }} ]")
        cls.ugate = Ugate(cls.yaml)
        cls.ugate.start()
        cls.origin = f"https://localhost:{cls.port}"
        cls.tls = ssl.create_default_context(cafile=cls.cert)
        cls.vapid = cls.path("vapid.json")
        with open(cls.vapid, "w") as f:
            f.write(cls.cli("vapid-keys").stdout)

    @classmethod
    def tearDownClass(cls):
        cls.ugate.__exit__(None, None, None)

    @classmethod
    def path(cls, name):
        return os.path.join(cls.dir, name)

    @classmethod
    def cli(cls, *args, check=True, timeout=30):
        r = subprocess.run([UGATE, "push", *args], capture_output=True, text=True, timeout=timeout, env=cls.env)
        if check and r.returncode != 0:
            raise AssertionError(f"ugate push {args[0]} exited {r.returncode}: {r.stderr}")
        return r

    @classmethod
    def node(cls, *args, check=True):
        r = subprocess.run(["node", PEER, *args], capture_output=True, text=True, timeout=60, env=cls.env)
        if check and r.returncode != 0:
            raise AssertionError(f"node {args[0]} exited {r.returncode}: {r.stdout} {r.stderr}")
        return json.loads(r.stdout.splitlines()[-1])

    def request(self, method, path, body=b"", headers=None):
        """(status, headers, body) of one HTTPS request to the push service."""
        conn = http.client.HTTPSConnection("localhost", self.port, context=self.tls, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def subscribe(self, name, *extra):
        """A subscriber made by `ugate push subscribe`: (subscription file, private state file)."""
        sub, state = self.path(f"{name}.sub.json"), self.path(f"{name}.state.json")
        r = self.cli("subscribe", "--service", self.origin, "--cacert", self.cert, "--save", state, *extra)
        with open(sub, "w") as f:
            f.write(r.stdout)
        self.assertEqual(os.stat(state).st_mode & 0o777, 0o600)
        endpoint = json.loads(r.stdout)["endpoint"]
        self.assertIn("curl -d 'hello' " + endpoint.replace("/p/", "/publish/"), r.stderr)
        return sub, state

    def listen(self, state, count, timeout=15, check=True):
        r = self.cli("listen", "--subscriber", state, "--cacert", self.cert, "--json", "--count", str(count),
                     "--timeout", str(timeout), check=check, timeout=timeout + 15)
        return r, [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def push_path(self, sub):
        with open(sub) as f:
            return "/p/" + json.load(f)["endpoint"].rsplit("/p/", 1)[1]

    def receive_path(self, state):
        with open(state) as f:
            return "/s/" + json.load(f)["subscription"].rsplit("/s/", 1)[1]

    def metric(self, name, **labels):
        return self.ugate.metric(name, listener="push", **labels)


class WebPushInterop(PushBase):
    def test_npm_send_notification_with_vapid_is_decrypted_by_ugate_listen(self):
        with open(self.vapid) as f:
            public = json.load(f)["publicKey"]
        sub, state = self.subscribe("npm-send", "--vapid-public", public)  # restricted to that key
        r = self.node("send", sub, self.vapid, "hello from npm web-push", "60")
        self.assertEqual(r["statusCode"], 201, r)
        self.assertIn("/m/", r["location"])
        self.assertEqual(r["ttl"], "60")
        _, messages = self.listen(state, 1)
        self.assertEqual(messages[0]["text"], "hello from npm web-push")

    def test_npm_encrypt_payload_is_decrypted_by_ugate(self):
        sub, state = self.subscribe("npm-encrypt")
        for text in ["short", "ü" * 1000, "x" * 3000]:
            body = base64.urlsafe_b64decode(self.node("encrypt", sub, text)["body"] + "==")
            status, _, _ = self.request("POST", self.push_path(sub), body,
                                        {"TTL": "60", "Content-Encoding": "aes128gcm"})
            self.assertEqual(status, 201)
            _, messages = self.listen(state, 1)
            self.assertEqual(messages[0]["text"], text)

    def test_ugate_send_is_decrypted_by_npm_http_ece_and_its_vapid_verified_by_jws(self):
        keys = self.node("keys")
        with open(self.path("node-keys.json"), "w") as f:
            json.dump(keys, f)
        sub = self.path("node-sub.json")
        capture = subprocess.Popen(["node", PEER, "capture", "0", self.cert, self.key, self.path("node-keys.json")],
                                   stdout=subprocess.PIPE, text=True, env=self.env)
        try:
            line = capture.stdout.readline()
            self.assertIn("listening", line)
            with open(sub, "w") as f:  # the endpoint names the port the kernel gave it
                json.dump({"endpoint": f"https://localhost:{json.loads(line)['port']}/p/abc",
                           "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}, f)
            r = self.cli("send", "--to", sub, "--ttl", "90", "--topic", "t1", "--urgency", "high", "--vapid",
                         self.vapid, "--subject", "mailto:ops@example.com", "--cacert", self.cert, "ugate to npm ✓")
            self.assertTrue(r.stdout.startswith("201 "), r.stdout)
            got = json.loads(capture.stdout.readline())
        finally:
            capture.kill()
            capture.wait()
            capture.stdout.close()
        self.assertEqual(got.get("text"), "ugate to npm ✓", got)
        self.assertEqual((got["ttl"], got["topic"], got["urgency"], got["encoding"]), ("90", "t1", "high", "aes128gcm"))
        self.assertTrue(got["vapid"]["valid"], got["vapid"])
        self.assertEqual(got["vapid"]["claims"]["sub"], "mailto:ops@example.com")

    def test_ugate_send_through_ugate_service_is_decrypted_by_npm_http_ece(self):
        keys = self.node("keys")
        with open(self.path("node-keys2.json"), "w") as f:
            json.dump(keys, f)
        status, _, body = self.request("POST", "/subscribe")
        self.assertEqual(status, 201)
        created = json.loads(body)
        sub = self.path("node-sub2.json")
        with open(sub, "w") as f:
            json.dump({"endpoint": created["endpoint"], "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}, f)
        self.cli("send", "--to", sub, "--ttl", "60", "--cacert", self.cert, "relayed, not readable by the relay")
        status, _, body = self.request("GET", "/s/" + created["subscription"].rsplit("/s/", 1)[1] + "?wait=5")
        self.assertEqual(status, 200)
        message = json.loads(body)["messages"][0]
        self.assertEqual(self.node("decrypt", self.path("node-keys2.json"), message["data"])["text"],
                         "relayed, not readable by the relay")

    def test_vapid_made_by_npm_accepted_and_bad_vapid_rejected(self):
        with open(self.vapid) as f:
            public = json.load(f)["publicKey"]
        sub, _ = self.subscribe("restricted", "--vapid-public", public)
        path, headers = self.push_path(sub), {"TTL": "30"}
        good = self.node("vapid", self.origin, self.vapid)["authorization"]
        self.assertEqual(self.request("POST", path, b"", dict(headers, Authorization=good))[0], 201)

        other = self.path("other-vapid.json")
        with open(other, "w") as f:
            f.write(self.cli("vapid-keys").stdout)
        before = self.metric("ugate_webpush_rejected_total", reason="unauthorized")
        cases = {
            "no Authorization on a restricted subscription": (None, 401),
            "another application server's key": (self.node("vapid", self.origin, other)["authorization"], 403),
            "another audience": (self.node("vapid", "https://elsewhere.example", self.vapid)["authorization"], 401),
            "garbage": ("vapid t=abc.def.ghi, k=" + public, 401),
            "another scheme": ("Bearer abc", 401),
            "expired ten minutes ago": (self.node("vapid", self.origin, self.vapid, "-600")["authorization"], 401),
            "a broken signature": (good.replace("t=", "t=x", 1), 401),
        }
        for what, (auth, want) in cases.items():
            h = dict(headers, Authorization=auth) if auth else headers
            self.assertEqual(self.request("POST", path, b"", h)[0], want, what)
        self.assertEqual(self.metric("ugate_webpush_rejected_total", reason="unauthorized") - before, 6)


class WebPushService(PushBase):
    max_pending = 5

    def push_text(self, sub, text, **headers):
        body = base64.urlsafe_b64decode(self.node("encrypt", sub, text)["body"] + "==")
        h = {"TTL": "60", "Content-Encoding": "aes128gcm"}
        h.update({k.replace("_", "-"): v for k, v in headers.items()})
        return self.request("POST", self.push_path(sub), body, h)

    def test_ttl_expiry(self):
        sub, state = self.subscribe("ttl")
        self.assertEqual(self.push_text(sub, "gone soon", TTL="1")[0], 201)
        expired_before = self.metric("ugate_webpush_messages_expired_total")
        time.sleep(2.3)
        status, _, _ = self.request("GET", self.receive_path(state) + "?wait=0")
        self.assertEqual(status, 204)
        self.assertGreater(self.metric("ugate_webpush_messages_expired_total"), expired_before)

    def test_topic_replaces_the_pending_message(self):
        sub, state = self.subscribe("topic")
        for text in ["score 1-0", "score 2-0"]:
            self.assertEqual(self.push_text(sub, text, Topic="match")[0], 201)
        self.assertEqual(self.push_text(sub, "other news")[0], 201)
        status, _, body = self.request("GET", self.receive_path(state) + "?wait=1")
        self.assertEqual(len(json.loads(body)["messages"]), 2)
        _, messages = self.listen(state, 2)
        self.assertEqual([m["text"] for m in messages], ["score 2-0", "other news"])
        self.assertEqual(messages[0]["topic"], "match")

    def test_restart_between_push_and_delivery_loses_nothing(self):
        sub, state = self.subscribe("durable")
        texts = [f"message {i}" for i in range(3)]
        for t in texts:
            self.assertEqual(self.push_text(sub, t)[0], 201)
        self.ugate.proc.send_signal(signal.SIGKILL)  # no clean shutdown: what was acknowledged is on disk
        self.ugate.proc.wait(10)
        self.ugate.stderr.close()
        self.ugate.start()
        _, messages = self.listen(state, 3)
        self.assertEqual([m["text"] for m in messages], texts)
        status, _, _ = self.request("GET", self.receive_path(state) + "?wait=0")
        self.assertEqual(status, 204)  # acknowledged ones are gone

    def test_oversized_body_413(self):
        sub, _ = self.subscribe("big")
        self.assertEqual(self.push_text(sub, "x" * 3993)[0], 201)  # 4096 octets: the RFC 8030 minimum
        status, headers, _ = self.push_text(sub, "x" * 3994)
        self.assertEqual(status, 413)
        self.assertEqual(self.request("POST", self.push_path(sub), b"\0" * 100_000,
                                      {"TTL": "60", "Content-Encoding": "aes128gcm"})[0], 413)
        self.assertGreaterEqual(self.metric("ugate_webpush_rejected_total", reason="too_large"), 2)

    def raw_tls(self, timeout=20):
        """A TLS socket to the push service, for requests http.client cannot make."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return self.tls.wrap_socket(sock, server_hostname="localhost")

    @staticmethod
    def read_until_closed(tls, limit=1 << 20):
        """What the server sends until it closes (EOF, with or without close_notify, or a reset)."""
        data = b""
        while len(data) < limit:
            try:
                chunk = tls.recv(65536)
            except (ConnectionResetError, ssl.SSLEOFError):
                break
            if not chunk:
                break
            data += chunk
        return data

    def test_long_poll_refuses_numbers_it_cannot_read(self):
        sub, state = self.subscribe("numbers")
        self.assertEqual(self.push_text(sub, "already here")[0], 201)
        path = self.receive_path(state)
        # A malformed or overflowing number was taken as 0 (the default): after=0 hands out
        # everything again. The message waiting makes a poll that ignores the error answer 200.
        cases = {
            "wait=0&after=abc": "after: not a number",
            "wait=0&after=": "after: not a number",
            "wait=0&after=1e3": "after: not a number",
            "wait=0&after=99999999999999999999": "after: out of range",
            "wait=0&after=-1": "after: out of range",
            "wait=soon&after=0": "wait: not a number",
            "wait=18446744073709551616": "wait: out of range",
            "wait=-5": "wait: out of range",
        }
        before = self.metric("ugate_webpush_rejected_total", reason="bad_request")
        for query, why in cases.items():
            status, headers, body = self.request("GET", f"{path}?{query}")
            self.assertEqual((status, body.decode().strip()), (400, why), query)
            self.assertTrue(headers["content-type"].startswith("text/plain"), query)
        self.assertEqual(self.metric("ugate_webpush_rejected_total", reason="bad_request") - before, len(cases))
        # Well-formed numbers and absent ones still work; a huge wait is cut to the maximum.
        status, _, body = self.request("GET", f"{path}?wait=0&after=0")
        self.assertEqual(status, 200)
        seq = json.loads(body)["messages"][0]["seq"]
        self.assertEqual(self.request("GET", f"{path}?wait=0&after={seq}")[0], 204)
        self.assertEqual(self.request("GET", f"{path}?wait=9223372036854775807&after=0")[0], 200)
        self.assertEqual(self.request("GET", f"{path}")[0], 200)

    def test_header_block_over_16k_is_answered_431_and_closed(self):
        sub, _ = self.subscribe("big-header")
        path = self.push_path(sub)
        before = self.metric("ugate_webpush_rejected_total", reason="bad_request")
        # One 30 KB Authorization, or many headers adding up to more than 16 KiB.
        for headers in ({"Authorization": "vapid t=" + "a" * 30_000 + ", k=b"},
                        {f"X-Filler-{i}": "f" * 500 for i in range(40)}):
            status, reply_headers, body = self.request("POST", path, b"", dict(headers, TTL="60"))
            self.assertEqual(status, 431, headers.keys())
            self.assertEqual(reply_headers.get("connection"), "close")
            self.assertIn(b"too large", body)
        # The answer comes, then the connection closes: read to the end, no reset.
        with self.raw_tls() as tls:
            tls.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nTTL: 60\r\n"
                        f"Authorization: vapid t={'a' * 30_000}\r\nContent-Length: 0\r\n\r\n".encode())
            started = time.monotonic()
            reply = self.read_until_closed(tls)
            self.assertLess(time.monotonic() - started, 10)
        self.assertTrue(reply.startswith(b"HTTP/1.1 431 "), reply[:100])
        self.assertIn(b"\r\n\r\nrequest header fields too large\n", reply)
        self.assertEqual(self.metric("ugate_webpush_rejected_total", reason="bad_request") - before, 3)
        # Below the limit is not refused for its size (a bad VAPID header: 401).
        status, _, _ = self.request("POST", path, b"", {"TTL": "60", "Authorization": "vapid t=" + "a" * 12_000})
        self.assertEqual(status, 401)

    def test_body_of_several_megabytes_reads_413(self):
        sub, _ = self.subscribe("huge")
        path = self.push_path(sub)
        headers = {"TTL": "60", "Content-Encoding": "aes128gcm"}
        # http.client sends the whole body before it reads: a server that closes with the body
        # unread resets the connection, and the client sees a send error instead of the 413.
        for size in (3_000_000, 8_000_000, 15_000_000):
            status, reply_headers, body = self.request("POST", path, b"\0" * size, headers)
            self.assertEqual((status, body), (413, b"message too large\n"), size)
            self.assertEqual(reply_headers.get("connection"), "close")
        # The same without a Content-Length (chunked): the rest is read until the client is done.
        chunks = (b"\0" * 65536 for _ in range(80))  # 5 MiB
        conn = http.client.HTTPSConnection("localhost", self.port, context=self.tls, timeout=30)
        try:
            conn.request("POST", path, body=chunks, headers=headers, encode_chunked=True)
            self.assertEqual(conn.getresponse().status, 413)
        finally:
            conn.close()
        # The connection still serves nothing after the 413, and the service is fine.
        self.assertEqual(self.request("POST", path, b"", {"TTL": "60"})[0], 201)

    def test_draining_a_refused_body_is_bounded(self):
        sub, _ = self.subscribe("endless")
        path = self.push_path(sub)
        head = (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nTTL: 60\r\nContent-Encoding: aes128gcm\r\n"
                f"Content-Length: {1 << 40}\r\n\r\n").encode()
        # A client that stops sending: the server answers, waits a little, and closes.
        with self.raw_tls() as tls:
            tls.sendall(head + b"\0" * 100_000)
            started = time.monotonic()
            reply = self.read_until_closed(tls)
            self.assertLess(time.monotonic() - started, 10)
        self.assertTrue(reply.startswith(b"HTTP/1.1 413 "), reply[:100])
        # A client that never stops: cut after a bounded amount (16 MiB, 5 s), not read forever.
        sent, failed = [0], []

        def send_forever(tls):
            block = b"\0" * 65536
            try:
                while sent[0] < 1 << 30:
                    tls.sendall(block)
                    sent[0] += len(block)
            except OSError as e:  # the reset (or the timeout)
                failed.append(e)

        with self.raw_tls(timeout=30) as tls:
            tls.sendall(head)
            started = time.monotonic()
            sender = threading.Thread(target=send_forever, args=(tls,))
            sender.start()
            sender.join(40)
            elapsed = time.monotonic() - started
        self.assertFalse(sender.is_alive())
        self.assertTrue(failed, "the server read 1 GiB of a refused body")
        self.assertNotIsInstance(failed[0], socket.timeout)
        self.assertLess(elapsed, 20)
        self.assertLess(sent[0], 200 << 20)
        # The service still answers.
        self.assertEqual(self.request("POST", path, b"", {"TTL": "60"})[0], 201)

    def test_corrupted_ciphertext_gives_a_clean_error(self):
        sub, state = self.subscribe("corrupt")
        body = bytearray(base64.urlsafe_b64decode(self.node("encrypt", sub, "intact?")["body"] + "=="))
        body[100] ^= 0x01  # in the ciphertext: the service cannot tell, the subscriber can
        self.assertEqual(self.request("POST", self.push_path(sub), bytes(body),
                                      {"TTL": "60", "Content-Encoding": "aes128gcm"})[0], 201)
        self.assertEqual(self.push_text(sub, "the next one is fine")[0], 201)
        r, messages = self.listen(state, 2, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("decryption failed", messages[0]["error"])
        self.assertIn("decryption failed", r.stderr)
        self.assertEqual(messages[1]["text"], "the next one is fine")

    def test_status_codes(self):
        sub, state = self.subscribe("codes")
        path = self.push_path(sub)
        ok = {"TTL": "60"}
        self.assertEqual(self.request("POST", "/p/nosuchsubscription", b"", ok)[0], 404)
        self.assertEqual(self.request("POST", path, b"", {})[0], 400)  # RFC 8030 5.2: TTL is required
        self.assertEqual(self.request("POST", path, b"", {"TTL": "soon"})[0], 400)
        self.assertEqual(self.request("POST", path, b"", dict(ok, Urgency="urgent"))[0], 400)
        self.assertEqual(self.request("POST", path, b"", dict(ok, Topic="not/base64url"))[0], 400)
        self.assertEqual(self.request("POST", path, b"", dict(ok, Topic="x" * 33))[0], 400)
        self.assertEqual(self.request("POST", path, b"abc", dict(ok, **{"Content-Encoding": "aesgcm"}))[0], 415)
        self.assertEqual(self.request("POST", path, b"abc", dict(ok, **{"Content-Encoding": "aes128gcm"}))[0], 400)
        self.assertEqual(self.request("POST", "/subscribe", b"{not json")[0], 400)
        self.assertEqual(self.request("DELETE", "/m/nosuchmessage")[0], 404)

        locations = []
        for _ in range(self.max_pending):
            status, headers, _ = self.request("POST", path, b"", ok)
            self.assertEqual(status, 201)
            locations.append(headers["location"])
        self.assertTrue(locations[0].startswith(self.origin + "/m/"))
        status, headers, _ = self.request("POST", path, b"", ok)
        self.assertEqual(status, 429)
        self.assertIn("retry-after", headers)
        # Acknowledging one (RFC 8030 6.2) makes room.
        self.assertEqual(self.request("DELETE", locations[0][len(self.origin):])[0], 204)
        self.assertEqual(self.request("DELETE", locations[0][len(self.origin):])[0], 404)
        self.assertEqual(self.request("POST", path, b"", ok)[0], 201)

        self.assertEqual(self.request("DELETE", self.receive_path(state))[0], 204)
        self.assertEqual(self.request("POST", path, b"", ok)[0], 410)
        self.assertEqual(self.request("GET", self.receive_path(state) + "?wait=0")[0], 410)

    def test_ntfy_style_publish_with_curl(self):
        sub, state = self.subscribe("ntfy")
        publish = self.origin + "/publish/" + self.push_path(sub)[3:]
        r = subprocess.run(["curl", "-sS", "--cacert", self.cert, "-o", "/dev/null", "-w", "%{http_code}",
                            "-d", "backup finished", publish], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout, "201", r.stderr)
        _, messages = self.listen(state, 1)
        self.assertEqual(messages[0]["text"], "backup finished")
        # Stored encrypted to the subscriber, like any push.
        status, _, _ = self.request("GET", self.receive_path(state) + "?wait=0")
        self.assertEqual(status, 204)


class PushStoreCrash(PushBase):
    """kill -9 in the middle of a burst of 10,000 pushes: every message answered 201 before the kill
    is delivered after the restart, nothing acknowledged before it comes back, nothing twice."""
    max_pending = 20000
    total = 10000
    senders = 4

    def burst(self, publish, answered, stop):
        """Sends `total` texts over `senders` keep-alive connections until the service goes away."""
        lock = threading.Lock()

        def send(first):
            conn = http.client.HTTPSConnection("localhost", self.port, context=self.tls, timeout=30)
            try:
                for i in range(first, self.total, self.senders):
                    if stop.is_set():
                        return
                    conn.request("POST", publish, body=f"burst {i}".encode(), headers={"TTL": "3600"})
                    r = conn.getresponse()
                    r.read()
                    if r.status == 201:
                        with lock:
                            answered.add(f"burst {i}")
            except (OSError, http.client.HTTPException):
                return  # killed: this request's answer never came
            finally:
                conn.close()

        threads = [threading.Thread(target=send, args=(k,), daemon=True) for k in range(self.senders)]
        for t in threads:
            t.start()
        return threads

    def test_kill_during_a_burst_loses_no_answered_push(self):
        sub, state = self.subscribe("crash")
        publish = "/publish/" + self.push_path(sub)[3:]
        acked = [f"early {i}" for i in range(20)]
        for text in acked:
            self.assertEqual(self.request("POST", publish, text.encode(), {"TTL": "3600"})[0], 201)
        _, early = self.listen(state, len(acked))  # listen acknowledges what it prints
        self.assertEqual([m["text"] for m in early], acked)

        answered, stop = set(), threading.Event()
        threads = self.burst(publish, answered, stop)
        wait_until(lambda: len(answered) >= 2000, timeout=120, what="2,000 pushes answered")
        self.ugate.proc.send_signal(signal.SIGKILL)
        self.ugate.proc.wait(10)
        stop.set()
        for t in threads:
            t.join(30)
        killed_at = len(answered)
        self.assertLess(killed_at, self.total, "the kill came after the burst")
        self.ugate.stderr.close()
        self.ugate.start()

        _, messages = self.listen(state, killed_at, timeout=120)
        texts = [m["text"] for m in messages]
        # Committed but not yet answered when the kill came: may be delivered too, once.
        while True:
            r, more = self.listen(state, 1, timeout=3, check=False)
            if not more:
                break
            texts += [m["text"] for m in more]
        self.assertEqual(len(texts), len(set(texts)), "a message was delivered twice")
        self.assertTrue(answered <= set(texts), f"{len(answered - set(texts))} answered pushes were lost")
        self.assertFalse(set(acked) & set(texts), "an acknowledged message came back")
        self.assertLessEqual(len(texts) - len(answered), self.senders, "more in flight than senders")
        print(f"\n  killed after {killed_at} pushes answered; {len(texts)} delivered after the restart",
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main()

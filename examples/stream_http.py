#!/usr/bin/python3
"""libugate from Python (ctypes): start a gateway from YAML, open a stream
through it to an HTTP server, send a GET and print the status line.

    /usr/bin/python3 examples/stream_http.py [--lib PATH] [HOST:PORT]

Without HOST:PORT it serves its own directory with http.server on a loopback
port (a thread). The library is found by --lib, $UGATE_LIB, or the loader's
search path (libugate.so.0). Exit status 0 when a 200 came back.
"""
import argparse
import ctypes
import http.server
import os
import socket
import sys
import threading

LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
METRIC_FN = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint64, ctypes.c_int, ctypes.c_void_p)


def load(path):
    lib = ctypes.CDLL(path or os.environ.get("UGATE_LIB") or "libugate.so.0")
    gw = ctypes.c_void_p
    lib.ugate_version.restype = ctypes.c_char_p
    lib.ugate_last_error.restype = ctypes.c_char_p
    lib.ugate_error_name.restype = ctypes.c_char_p
    lib.ugate_error_name.argtypes = [ctypes.c_int]
    lib.ugate_set_log_callback.argtypes = [LOG_FN, ctypes.c_void_p, ctypes.c_int]
    lib.ugate_create.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(gw)]
    lib.ugate_start.argtypes = [gw]
    lib.ugate_open_stream.argtypes = [gw, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    lib.ugate_read_metrics.argtypes = [gw, METRIC_FN, ctypes.c_void_p]
    lib.ugate_drain.argtypes = [gw]
    lib.ugate_wait.argtypes = [gw, ctypes.c_int]
    lib.ugate_destroy.argtypes = [gw]
    lib.ugate_destroy.restype = None
    return lib


class Ugate:
    """One gateway; raises RuntimeError with libugate's message on a failure."""

    def __init__(self, lib, yaml):
        self.lib = lib
        self.g = ctypes.c_void_p()
        self._check(lib.ugate_create(yaml.encode(), b"stream_http.py", ctypes.byref(self.g)))
        self._check(lib.ugate_start(self.g))

    def _check(self, rc):
        if rc != 0:
            raise RuntimeError(f"{self.lib.ugate_error_name(rc).decode()}: {self.lib.ugate_last_error().decode()}")

    def open_stream(self, destination):
        fd = ctypes.c_int(-1)
        self._check(self.lib.ugate_open_stream(self.g, destination.encode(), ctypes.byref(fd)))
        return socket.socket(fileno=fd.value)  # a Unix socket pair's end, as a socket object

    def metrics(self):
        out = {}

        @METRIC_FN
        def each(name, labels, value, counter, user):
            out[name.decode() + ("{" + labels.decode() + "}" if labels else "")] = value

        self._check(self.lib.ugate_read_metrics(self.g, each, None))
        return out

    def close(self):
        self.lib.ugate_drain(self.g)
        self.lib.ugate_wait(self.g, 5000)
        self.lib.ugate_destroy(self.g)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", help="path of libugate.so")
    parser.add_argument("destination", nargs="?")
    args = parser.parse_args()
    lib = load(args.lib)

    @LOG_FN
    def log(level, message, user):
        print(f"ugate[{level}]: {message.decode()}", file=sys.stderr)

    lib.ugate_set_log_callback(log, None, 2)  # info and above

    server = None
    destination = args.destination
    if not destination:
        handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=os.path.dirname(__file__) or ".")
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        destination = f"127.0.0.1:{server.server_address[1]}"

    gate = Ugate(lib, "workers: 1\ndrain_timeout: 2s\n")
    print(f"libugate {lib.ugate_version().decode()}: gateway started")
    try:
        with gate.open_stream(destination) as s:
            s.settimeout(10)
            s.sendall(f"GET / HTTP/1.0\r\nHost: {destination}\r\n\r\n".encode())
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        status = reply.split(b"\r\n", 1)[0].decode()
        print(f"reply from {destination}: {status} ({len(reply)} bytes)")
        closed = gate.metrics().get('ugate_listener_closed_total{listener="embed"}')
        print(f"ugate_listener_closed_total{{listener=\"embed\"}} = {closed}")
    finally:
        gate.close()
        lib.ugate_set_log_callback(LOG_FN(), None, 2)  # the callback object goes with this function
        if server:
            server.shutdown()
    return 0 if status.split()[1:2] == ["200"] else 1


if __name__ == "__main__":
    sys.exit(main())

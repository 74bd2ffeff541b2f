#!/usr/bin/python3
"""How often a gateway and a node wake up with one idle reverse connection
between them (remote_accept, no stream): each process's schedstat count of
times its threads were put on a CPU over SECONDS (default 60).

    UGATE_BIN=build/release/apps/ugate/ugate /usr/bin/python3 bench/idle_reverse.py [SECONDS]

Uses the integration tests' mini CA and process harness (tests/integration)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from harness import wait_until  # noqa: E402
from test_idle import wakeups  # noqa: E402
from test_mesh import Mesh, mesh_address, mesh_listener, spiffe  # noqa: E402


def main():
    secs = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    mesh = Mesh()
    g = mesh.node("gw", f"[ {mesh_listener()} ]", {"b": f"id: '{spiffe('b')}'"})
    g.start()
    try:
        b = mesh.node("b", "[]", {"gw": f"address: '{mesh_address(g)}', id: '{spiffe('gw')}'"},
                      extra="remote_accept: { gateways: [gw] }")
        b.start()
        try:
            wait_until(lambda: g.metric("ugate_mesh_connections_active") >= 1, what="b registered")
            time.sleep(2)  # what registration left is over
            before = (wakeups(g.proc.pid), wakeups(b.proc.pid))
            time.sleep(secs)
            woke = (wakeups(g.proc.pid) - before[0], wakeups(b.proc.pid) - before[1])
            print(f"one idle reverse connection, default keepalive_interval, 2 workers each, {secs} s:")
            print(f"  gateway: {woke[0]} wakeups ({woke[0] / secs:.2f}/s); node: {woke[1]} wakeups ({woke[1] / secs:.2f}/s)")
            print(f"  connection still up: {g.metric('ugate_mesh_connections_active') >= 1}")
        finally:
            b.__exit__(None, None, None)
    finally:
        g.__exit__(None, None, None)
        mesh.close()


if __name__ == "__main__":
    main()

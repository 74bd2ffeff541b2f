"""A lossy, slow, reordering point-to-point link between two network namespaces, in user space:
what `tc qdisc add ... netem delay 50ms loss 1% reorder 10%` does, for kernels built without
sch_netem (this machine's has none, and no modules to load).

Run as a process of its own (so its packet loop does not share a GIL with the test):

    lossy_link.py NS_A DEV_A NS_B DEV_B --delay-ms 50 --loss 0.01 --reorder 0.1 --seed 1

It creates a TUN device in each namespace (netns.call_in: setns(2) on the thread that opens it; the
device stays there), writes "ready" on stdout, and then carries every IP packet read from one device to the
other: each is dropped with probability LOSS; of the others a fraction REORDER is sent at once and
the rest after DELAY_MS, so the immediate ones overtake those waiting (netem's `reorder`). Both
directions. The caller gives the devices their addresses and brings them up (`ip -n NS ...`); the
link goes away when this process ends (SIGTERM, or stdin closed).
"""
import argparse
import fcntl
import heapq
import os
import random
import select
import struct
import sys
import time

from netns import call_in

_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000


def open_tun(ns, dev):
    """A TUN device named dev, created in namespace ns, as a nonblocking fd."""
    def create():
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", dev.encode(), _IFF_TUN | _IFF_NO_PI))
        return fd

    return call_in(ns, create)


def carry(fds, delay, loss, reorder, rng):
    """The packet loop: fds[0] <-> fds[1]; ends when stdin closes."""
    waiting = []  # (due, sequence, fd, packet): a heap, earliest first
    seq = 0
    peer = {fds[0]: fds[1], fds[1]: fds[0]}
    counts = {"carried": 0, "dropped": 0, "reordered": 0}
    while True:
        now = time.monotonic()
        while waiting and waiting[0][0] <= now:
            _, _, fd, packet = heapq.heappop(waiting)
            try:
                os.write(fd, packet)
                counts["carried"] += 1
            except OSError:  # the device is down: the packet is lost, as on a wire
                counts["dropped"] += 1
        timeout = max(0.0, waiting[0][0] - now) if waiting else 1.0
        ready, _, _ = select.select(list(fds) + [sys.stdin], [], [], timeout)
        if sys.stdin in ready and not sys.stdin.buffer.read1(4096):
            print(f"lossy_link: {counts}", file=sys.stderr)
            return
        now = time.monotonic()
        for fd in ready:
            if fd is sys.stdin:
                continue
            for _ in range(256):  # a burst, then the timers again
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:  # down: nothing to read
                    break
                if rng.random() < loss:
                    counts["dropped"] += 1
                    continue
                immediate = rng.random() < reorder
                counts["reordered"] += immediate
                seq += 1
                heapq.heappush(waiting, (now if immediate else now + delay, seq, peer[fd], packet))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("ns_a")
    p.add_argument("dev_a")
    p.add_argument("ns_b")
    p.add_argument("dev_b")
    p.add_argument("--delay-ms", type=float, default=50)
    p.add_argument("--loss", type=float, default=0.01)
    p.add_argument("--reorder", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    fds = (open_tun(a.ns_a, a.dev_a), open_tun(a.ns_b, a.dev_b))
    print("ready", flush=True)
    carry(fds, a.delay_ms / 1000, a.loss, a.reorder, random.Random(a.seed))


if __name__ == "__main__":
    main()

"""Deploying ugate: the systemd unit (systemd-analyze verify, its hardening) and the config it runs."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import UGATE

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
UNIT = os.path.join(REPO, "deploy", "systemd", "ugate.service")
CONFIG = os.path.join(REPO, "deploy", "ugate.yaml")


def read(path):
    with open(path) as f:
        return f.read()


def seconds(text):
    """A systemd or ugate duration ("30s", "500ms", "1min", "2m", "1h") in seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?", text.strip())
    assert m, f"not a duration: {text!r}"
    return float(m.group(1)) * {"ms": 0.001, None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]


def unit_settings(text):
    """{key: [values in order]} of a unit file's [Service] (and other) sections; comments left out."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        key, value = line.split("=", 1)
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def with_exec_start(text, binary):
    """The unit with ExecStart's binary replaced (systemd-analyze verify checks that it exists)."""
    new, n = re.subn(r"^ExecStart=\S+", lambda _: "ExecStart=" + binary, text, flags=re.M)
    assert n == 1, "one ExecStart"
    return new


def verify(text, directory):
    """systemd-analyze verify of `text` as ugate.service: (accepted, what it said). It exits 0 on keys
    it does not know and values it cannot parse ("..., ignoring"), so anything it prints is a failure."""
    path = os.path.join(directory, "ugate.service")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, timeout=60)
    said = (r.stdout + r.stderr).strip()
    return r.returncode == 0 and not said, said


class SystemdUnit(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ugate-unit-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.assertTrue(shutil.which("systemd-analyze"), "systemd-analyze (Debian package systemd) is needed")
        self.unit = read(UNIT)

    def test_systemd_analyze_verify_accepts_the_unit(self):
        ok, said = verify(with_exec_start(self.unit, UGATE), self.dir)
        self.assertTrue(ok, said)

    def test_verify_as_used_here_catches_broken_units(self):
        # Each of these must fail, or the test above proves nothing.
        broken = {
            "unknown key": self.unit.replace("ProtectSystem=strict", "ProtectSystem=strict\nProtectSytem=strict"),
            "bad value": self.unit.replace("ProtectSystem=strict", "ProtectSystem=bogus"),
            "bad time": self.unit.replace("TimeoutStopSec=30s", "TimeoutStopSec=30x"),
            "bad syscall group": self.unit.replace("=@system-service", "=@system-servic"),
            "missing binary": self.unit,  # ExecStart as shipped: /usr/local/bin/ugate is not here
        }
        if os.path.exists("/usr/local/bin/ugate"):
            del broken["missing binary"]
        for what, text in broken.items():
            if what != "missing binary":
                self.assertNotEqual(text, self.unit, what)
                text = with_exec_start(text, UGATE)
            ok, said = verify(text, self.dir)
            self.assertFalse(ok, f"{what}: verify accepted it")

    def test_hardening_and_drain_settings(self):
        s = unit_settings(self.unit)
        one = {k: v[-1] for k, v in s.items()}
        self.assertEqual(s["ExecStart"], ["/usr/local/bin/ugate --config /etc/ugate/ugate.yaml"])
        self.assertNotIn("ExecReload", s, "SIGHUP reloads nothing yet")
        for key, value in {"DynamicUser": "yes", "StateDirectory": "ugate", "StateDirectoryMode": "0700",
                           "ConfigurationDirectory": "ugate", "Environment": "UGATE_STATE_DIR=%S/ugate",
                           "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                           "NoNewPrivileges": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
                           "Restart": "on-failure", "KillSignal": "SIGTERM", "AmbientCapabilities": ""}.items():
            self.assertEqual(one.get(key), value, key)
        self.assertEqual(set(one["CapabilityBoundingSet"].split()),
                         {"CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN", "CAP_NET_RAW"})
        self.assertEqual(set(one["RestrictAddressFamilies"].split()), {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"})
        self.assertIn("@system-service", s["SystemCallFilter"])
        self.assertGreaterEqual(int(one["LimitNOFILE"]), 65536)
        # The shipped config's drain_timeout, as ugate reads it, plus the forced-close grace (2 s) and
        # margin, must fit in TimeoutStopSec, or systemd SIGKILLs a draining node.
        r = subprocess.run([UGATE, "check", "--config", CONFIG], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        drain = seconds(json.loads(r.stdout)["drain_timeout"])
        self.assertGreaterEqual(seconds(one["TimeoutStopSec"]), drain + 10)


if __name__ == "__main__":
    unittest.main()
